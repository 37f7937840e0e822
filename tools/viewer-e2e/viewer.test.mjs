// The execution viewer as a person uses it: `saga serve --fault-injection` on a free port, a happy saga and a
// compensated one, then the pages in headless Chromium. Screenshots of each page go to
// $CARGO_TARGET_DIR/viewer-e2e (target/viewer-e2e by default) as test artefacts.
//
// Environment: SAGA_BIN (default: <target>/debug/saga, built beforehand), CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(repo, process.env.CARGO_TARGET_DIR) : path.join(repo, "target");
const sagaBin = process.env.SAGA_BIN || path.join(targetDir, "debug", "saga");
const artefacts = path.join(targetDir, "viewer-e2e");
const SKU = "viewer-sku";

let server;
let base;
let context;
let page;
let profile;
const orders = {};

function startServer() {
  return new Promise((resolve, reject) => {
    const child = spawn(sagaBin, ["serve", "--listen", "127.0.0.1:0", "--fault-injection"], {
      env: { ...process.env, RUST_LOG: "info" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      log += chunk;
      const m = log.match(/serving the order saga API on http:\/\/([0-9.:]+)/);
      if (m) resolve({ child, url: `http://${m[1]}` });
    });
    child.on("exit", (code) => reject(new Error(`saga serve exited with ${code}:\n${log}`)));
    child.on("error", reject);
  });
}

async function order(faults) {
  const headers = { "content-type": "application/json" };
  if (faults) headers["x-saga-fault"] = faults;
  const r = await fetch(`${base}/orders`, {
    method: "POST",
    headers,
    body: JSON.stringify({ customerId: "viewer", items: [{ sku: SKU, quantity: 1 }] }),
  });
  return { status: r.status, body: await r.json(), execution: r.headers.get("x-saga-execution") };
}

async function shot(name) {
  await page.screenshot({ path: path.join(artefacts, `${name}.png`), fullPage: true });
}

before(async () => {
  mkdirSync(artefacts, { recursive: true });
  const started = await startServer();
  server = started.child;
  base = started.url;
  const stock = await fetch(`${base}/inventory/${SKU}`, {
    method: "PUT",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ available: 100 }),
  });
  assert.equal(stock.status, 200);
  orders.happy = await order(null);
  assert.equal(orders.happy.status, 201);
  orders.compensated = await order("reserve-stock=error-after-commit");
  assert.equal(orders.compensated.body.compensation, "completed");

  profile = mkdtempSync(path.join(tmpdir(), "viewer-e2e-profile-"));
  // Chromium's own outgoing connections (updates, sync, QUIC probes) are refused here; switch them off.
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    viewport: { width: 1440, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = context.pages()[0] || (await context.newPage());
});

after(async () => {
  if (context) await context.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
});

test("GET / lists both executions with their status and HTTP answer", async () => {
  await page.goto(`${base}/`);
  const rows = page.locator("#executions tbody tr");
  await rows.nth(1).waitFor();
  assert.equal(await rows.count(), 2);
  const happy = page.locator(`#executions tr[data-arn="${orders.happy.execution}"]`);
  const compensated = page.locator(`#executions tr[data-arn="${orders.compensated.execution}"]`);
  assert.equal(await happy.getAttribute("data-status"), "SUCCEEDED");
  assert.equal(await happy.locator(".badge").textContent(), "SUCCEEDED");
  assert.equal(await happy.locator(".http-status").textContent(), "201");
  assert.equal(await compensated.getAttribute("data-status"), "FAILED");
  assert.equal(await compensated.locator(".http-status").textContent(), String(orders.compensated.status));
  assert.equal(await compensated.locator(".problem-type").textContent(), orders.compensated.body.type);
  assert.equal(await compensated.locator(".compensation").textContent(), "completed");
  // Newest first.
  assert.equal(await rows.first().getAttribute("data-arn"), orders.compensated.execution);
  await shot("executions");
});

test("the status filter shows only the executions with that status", async () => {
  await page.goto(`${base}/`);
  await page.locator("#executions tbody tr").nth(1).waitFor();
  await page.selectOption("#status-filter", "FAILED");
  await page.waitForFunction(() => location.hash.includes("status=FAILED"));
  const rows = page.locator("#executions tbody tr");
  await page.waitForFunction(() => document.querySelectorAll("#executions tbody tr").length === 1);
  assert.equal(await rows.first().getAttribute("data-arn"), orders.compensated.execution);
  await page.selectOption("#status-filter", "SUCCEEDED");
  await page.waitForFunction(() => document.querySelectorAll('#executions tbody tr[data-status="SUCCEEDED"]').length === 1
    && document.querySelectorAll("#executions tbody tr").length === 1);
  assert.equal(await rows.first().getAttribute("data-arn"), orders.happy.execution);
  // And by state machine: the saga's, beside its status filter.
  await page.selectOption("#machine-filter", "order-saga");
  await page.waitForFunction(() => location.hash.includes("stateMachine=order-saga"));
  await page.waitForFunction(() => document.querySelectorAll("#executions tbody tr").length === 1);
  assert.equal(await page.locator("#status-filter").inputValue(), "SUCCEEDED");
  await shot("executions-filtered");
});

test("a new execution appears in the open list without a reload", async () => {
  await page.goto(`${base}/`);
  await page.locator("#executions tbody tr").nth(1).waitFor();
  await page.locator("#live.on").waitFor();
  await page.evaluate(() => { window.notReloaded = true; });
  const third = await order(null);
  assert.equal(third.status, 201);
  const row = page.locator(`#executions tr[data-arn="${third.execution}"]`);
  await row.waitFor();
  assert.equal(await page.evaluate(() => window.notReloaded), true);
  assert.equal(await page.locator("#executions tbody tr").count(), 3);
  assert.equal(await page.locator("#executions tbody tr").first().getAttribute("data-arn"), third.execution);
  assert.equal(await row.getAttribute("data-status"), "SUCCEEDED");
});

test("the compensated execution: graph with compensation highlighted, events, waterfall", async () => {
  await page.goto(`${base}/`);
  await page.locator(`#executions tr[data-arn="${orders.compensated.execution}"] td:nth-child(2) a`).click();
  await page.locator("#graph").waitFor();
  const node = (name) => page.locator(`#graph g.node[data-state="${name}"]`);
  const classes = async (name) => (await node(name).getAttribute("class")).split(/\s+/);
  for (const name of ["ReleaseStock", "CancelOrder"]) {
    assert.ok((await classes(name)).includes("hl-compensation"), `${name}: ${await classes(name)}`);
  }
  // The failing step: caught, retried, and marked with the injected fault.
  const reserve = await classes("ReserveStock");
  assert.ok(reserve.includes("hl-caught") && reserve.includes("faulted"), reserve.join(" "));
  assert.match(await node("ReserveStock").locator(".badge-retry-text").textContent(), /↻ [1-9]/);
  // Forward steps it never reached are not highlighted.
  assert.ok(!(await classes("ConfirmOrder")).includes("visited"));
  assert.ok((await classes("CreateOrder")).includes("hl-path"));
  assert.equal(await page.locator("#graph path.edge.taken.kind-catch").count(), 1);
  assert.equal(await page.locator("#compensated").textContent(), "ReleaseStock → CancelOrder");
  assert.equal(await page.locator("#no-history").count(), 0, "its history was kept");
  assert.match(await page.locator("#http-answer").textContent(), /compensation completed/);

  const events = page.locator("#events tbody tr");
  assert.equal(await events.first().locator("td:nth-child(2)").textContent(), "ExecutionStarted");
  assert.equal(await events.last().locator("td:nth-child(2)").textContent(), "ExecutionFailed");
  assert.ok(await page.locator('#events tr[data-type="TaskFailed"]').count() >= 2);
  const releaseEntered = page.locator('#events tr[data-type="TaskStateEntered"]', { hasText: "ReleaseStock" });
  assert.equal(await releaseEntered.count(), 1);
  await releaseEntered.locator("summary", { hasText: "input" }).click();
  assert.match(await releaseEntered.locator("pre").textContent(), /"orderId"/);

  const bars = page.locator("#waterfall .wf-row");
  const states = await bars.evaluateAll((rows) => rows.map((r) => r.dataset.state));
  assert.deepEqual(states.slice(0, 6), ["PrepareOrder", "CreateOrder", "CheckReplay", "ReserveStock", "ReleaseStock", "CancelOrder"]);
  assert.equal(await page.locator('#waterfall .wf-row[data-state="ReleaseStock"] .wf-bar.compensation').count(), 1);
  await page.locator('.toggle button[data-scale="budget"]').click();
  assert.equal(await page.locator("#waterfall .wf-mark.gateway").count(), states.length);
  assert.equal(await page.locator("#waterfall .wf-mark.timeout").count(), states.length);
  await page.locator('.toggle button[data-scale="execution"]').click();
  await shot("execution-compensated");
  // What a person sees first, without scrolling: the picture the docs show.
  await page.setViewportSize({ width: 1440, height: 1500 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: path.join(artefacts, "execution-compensated-viewport.png") });
  await page.setViewportSize({ width: 1440, height: 900 });
});

test("the happy execution: the forward path only", async () => {
  await page.goto(`${base}/#/executions/${encodeURIComponent(orders.happy.execution)}`);
  // Only the hash changed from the last page: wait for this execution's page, not the graph still shown.
  await page.locator(".summary code", { hasText: orders.happy.execution }).waitFor();
  await page.locator("#graph").waitFor();
  assert.equal(await page.locator("#graph g.node.hl-compensation").count(), 0);
  for (const name of ["CreateOrder", "ReserveStock", "ConfirmOrder", "Confirmed"]) {
    const c = await page.locator(`#graph g.node[data-state="${name}"]`).getAttribute("class");
    assert.ok(c.includes("hl-path"), `${name}: ${c}`);
  }
  assert.equal(await page.locator("#events tbody tr").last().locator("td:nth-child(2)").textContent(), "ExecutionSucceeded");
  await shot("execution-happy");
});

test("the workflow page marks saga budget's worst path", async () => {
  await page.goto(`${base}/`);
  await page.locator('#machine-links a[data-name="order-saga"]').click();
  await page.locator("#graph").waitFor();
  assert.ok(await page.locator("#graph g.node.worst").count() >= 3);
  assert.ok(await page.locator("#graph path.edge.worst").count() >= 2);
  assert.equal(await page.locator("#verdict").textContent(), "ok");
  const first = await page.locator("#budget tbody tr").first().locator("td").first().textContent();
  assert.equal(first, "PrepareOrder");
  // A compensation step is marked as such even where no execution went.
  assert.ok((await page.locator('#graph g.node[data-state="ReleaseStock"]').getAttribute("class")).includes("role-compensation"));
  await shot("workflow");
});
