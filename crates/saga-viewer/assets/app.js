// The execution viewer's page: three views behind the URL's hash, drawn from the JSON endpoints under /ui/api.
// No framework and no layout library: the server lays the graphs out, this file only draws them.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const STATUSES = ["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"];
const main = document.getElementById("main");
let stream = null;
// Each render bumps this, so that a slow answer for a view the user has left draws nothing.
let generation = 0;

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== null && v !== undefined) e.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function getJson(url) {
  const r = await fetch(url, { headers: { accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || `${url} answered ${r.status}`);
  return body;
}

function ms(v) {
  if (v === null || v === undefined) return "";
  if (v >= 1000) return `${(v / 1000).toFixed(2)} s`;
  return `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}

function badge(status) {
  return el("span", { class: `badge ${status}` }, status);
}

function executionLink(e, text) {
  return el("a", { href: `#/executions/${encodeURIComponent(e.executionArn)}` }, text);
}

function startedBy(e) {
  return e.origin === "http" ? "POST /orders" : `SDK ${e.origin.stepFunctions.operation}`;
}

// ---- the list of executions ----------------------------------------------------------------------------------

function executionRow(e) {
  const http = e.http || {};
  return el("tr", { "data-arn": e.executionArn, "data-status": e.status, "data-machine": e.stateMachineName },
    el("td", {}, badge(e.status)),
    el("td", {}, executionLink(e, e.name)),
    el("td", {}, el("a", { href: `#/state-machines/${encodeURIComponent(e.stateMachineName)}` }, e.stateMachineName)),
    el("td", {}, new Date(e.startDate).toLocaleTimeString(undefined, { hour12: false }) + "." + e.startDate.slice(20, 23)),
    el("td", { class: "num" }, ms(e.durationMs)),
    el("td", {}, startedBy(e)),
    el("td", { class: "num http-status" }, http.status ?? ""),
    el("td", { class: "problem-type" }, http.problemType ?? (e.error ? el("span", { class: "muted" }, e.error) : "")),
    el("td", { class: "compensation" }, http.compensation ?? ""),
    el("td", {}, http.orderId ? el("code", {}, http.orderId) : ""),
    el("td", {}, e.faults.map((f) => `${f.step}=${f.mode}`).join(", ")),
  );
}

async function renderList(gen) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const status = params.get("status") || "";
  const machine = params.get("stateMachine") || "";
  const query = new URLSearchParams();
  if (status) query.set("status", status);
  if (machine) query.set("stateMachine", machine);
  const [list, machines] = await Promise.all([
    getJson(`/ui/api/executions?${query}`),
    getJson("/ui/api/state-machines"),
  ]);
  if (gen !== generation) return;
  const setFilter = (key, value) => {
    const p = new URLSearchParams(location.hash.split("?")[1] || "");
    if (value) p.set(key, value); else p.delete(key);
    location.hash = `#/?${p}`;
  };
  const statusSelect = el("select", { id: "status-filter", onchange: (ev) => setFilter("status", ev.target.value) },
    el("option", { value: "" }, "all statuses"),
    STATUSES.map((s) => el("option", { value: s, selected: s === status }, s)));
  const machineSelect = el("select", { id: "machine-filter", onchange: (ev) => setFilter("stateMachine", ev.target.value) },
    el("option", { value: "" }, "all state machines"),
    machines.stateMachines.map((m) => el("option", { value: m.name, selected: m.name === machine }, m.name)));
  const tbody = el("tbody", {}, list.executions.map(executionRow));
  const empty = el("p", { id: "empty", class: "muted", hidden: list.executions.length > 0 },
    list.capacity === 0
      ? "Recording is off (saga serve --viewer-executions 0)."
      : "No execution yet. Place an order (POST /orders) or start one with an AWS SDK; it appears here when it ends.");
  const held = el("span", { class: "muted", id: "held" }, `${list.held} of the last ${list.capacity} kept`);
  main.replaceChildren(
    el("h1", {}, "Executions"),
    el("div", { class: "filters" },
      el("label", {}, "Status ", statusSelect),
      el("label", {}, "State machine ", machineSelect),
      held),
    el("table", { id: "executions" },
      el("thead", {}, el("tr", {}, ["Status", "Name", "State machine", "Started", "Duration", "Started by",
        "HTTP", "Problem type", "Compensation", "Order id", "Faults"].map((t) => el("th", {}, t)))),
      tbody),
    empty);
  listen((e) => {
    if ((status && e.status !== status) || (machine && e.stateMachineName !== machine)) return;
    const row = executionRow(e);
    row.classList.add("new");
    tbody.prepend(row);
    while (tbody.children.length > list.capacity) tbody.lastElementChild.remove();
    empty.hidden = true;
    if (![...machineSelect.options].some((o) => o.value === e.stateMachineName)) {
      machineSelect.append(el("option", { value: e.stateMachineName }, e.stateMachineName));
    }
  });
}

// The live stream outlives views; each view says what to do with a new execution.
let onExecution = null;
function listen(handler) {
  onExecution = handler;
}

function openStream() {
  const live = document.getElementById("live");
  stream = new EventSource("/ui/api/stream");
  stream.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  stream.addEventListener("error", () => { live.textContent = "reconnecting"; live.className = "live off"; });
  stream.addEventListener("execution", (ev) => {
    const e = JSON.parse(ev.data);
    if (onExecution) onExecution(e);
    addMachineLink(e.stateMachineName);
  });
}

function addMachineLink(name) {
  const links = document.getElementById("machine-links");
  if ([...links.children].some((a) => a.dataset.name === name)) return;
  links.append(el("a", { href: `#/state-machines/${encodeURIComponent(name)}`, "data-name": name }, `Workflow: ${name}`));
}

// ---- the graph ---------------------------------------------------------------------------------------------------

function edgePath(points) {
  if (points.length === 0) return "";
  let d = `M${points[0][0]},${points[0][1]}`;
  if (points.length === 2) return d + ` L${points[1][0]},${points[1][1]}`;
  // A smooth curve through the bend points: each segment bends halfway between its layers.
  for (let i = 1; i < points.length; i++) {
    const [x0, y0] = points[i - 1];
    const [x1, y1] = points[i];
    const my = (y0 + y1) / 2;
    d += ` C${x0},${my} ${x1},${my} ${x1},${y1}`;
  }
  return d;
}

// Draws `graph`; `decorate(node)` returns the extra classes and badges of a node, `edgeClass(edge)` those of an edge.
function drawGraph(graph, decorate, edgeClass) {
  const root = svg("svg", { class: "graph", id: "graph", width: graph.width, height: graph.height,
    viewBox: `0 0 ${graph.width} ${graph.height}` });
  const defs = svg("defs", {});
  for (const [id, color] of [["arrow", "#b5bdc7"], ["arrow-taken", "#2f6fdb"], ["arrow-catch", "#c0392b"],
    ["arrow-comp", "#d35400"], ["arrow-worst", "#c2185b"]]) {
    defs.append(svg("marker", { id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", fill: color })));
  }
  root.append(defs);
  const edges = svg("g", {});
  for (const e of graph.edges) {
    const extra = edgeClass(e);
    const marker = extra.includes("worst") ? "arrow-worst" : extra.includes("comp") ? "arrow-comp"
      : extra.includes("taken") ? (e.kind === "catch" ? "arrow-catch" : "arrow-taken") : "arrow";
    const path = svg("path", { class: `edge kind-${e.kind} ${extra}`, d: edgePath(e.points), "marker-end": `url(#${marker})`,
      "data-from": e.from, "data-to": e.to, "data-kind": e.kind });
    path.append(svg("title", {}, `${e.from} → ${e.to} (${e.kind}${e.errors ? ": " + e.errors.join(", ") : ""})`));
    edges.append(path);
  }
  root.append(edges);
  for (const n of graph.nodes) {
    const { classes, badges, title } = decorate(n);
    const x = n.x - n.width / 2, y = n.y - n.height / 2;
    const g = svg("g", { class: `node role-${n.role} ${classes.join(" ")}`, "data-state": n.name });
    g.append(svg("title", {}, title || `${n.name} (${n.type})`));
    if (n.retry.length > 0) {
      // Retry: a small loop back into the box's right side.
      const rx = n.x + n.width / 2;
      g.append(svg("path", { class: "retry-loop", d: `M${rx},${n.y - 6} c14,-10 14,22 0,12`, "marker-end": "url(#arrow)" }));
    }
    g.append(svg("rect", { x, y, width: n.width, height: n.height, rx: n.type === "Choice" ? 14 : 5 }));
    g.append(svg("text", { x: n.x, y: n.y - 4 }, n.name));
    g.append(svg("text", { class: "type", x: n.x, y: n.y + 10 }, n.type + (n.start ? " · start" : "") + (n.end ? " · end" : "")));
    // Badges sit on the box's top edge, right-aligned, so that they hide none of its name.
    let bx = x + n.width + 6;
    for (const b of badges) {
      const w = b.text.length * 6.8 + 12;
      bx -= w;
      g.append(svg("rect", { class: `badge-${b.kind}`, x: bx, y: y - 15, width: w, height: 15, rx: 7 }));
      g.append(svg("text", { class: `badge-${b.kind}-text`, x: bx + w / 2, y: y - 7.5 }, b.text));
      bx -= 3;
    }
    root.append(g);
  }
  return el("div", { class: "graph-box" }, root);
}

function legend(items) {
  return el("div", { class: "legend" }, items.map(([label, color]) =>
    el("span", {}, el("i", { style: `border-color:${color};background:${color}22` }), label)));
}

// ---- one execution -----------------------------------------------------------------------------------------------

function waterfall(view) {
  const x = view.execution;
  const rows = view.waterfall;
  const duration = Math.max(x.durationMs, ...rows.map((r) => r.endMs), 0.001);
  const budgetMs = Math.max(x.gatewayLimitSeconds, x.timeoutSeconds || 0) * 1000 * 1.04;
  const box = el("div", { class: "waterfall", id: "waterfall" });
  const draw = (scale) => {
    const span = scale === "budget" ? budgetMs : duration;
    const pct = (v) => `${Math.min(100, (v / span) * 100)}%`;
    const marks = scale === "budget" ? [
      x.timeoutSeconds !== null ? el("div", { class: "wf-mark timeout", style: `left:${pct(x.timeoutSeconds * 1000)}`,
        title: `the workflow's TimeoutSeconds: ${x.timeoutSeconds} s` }) : null,
      el("div", { class: "wf-mark gateway", style: `left:${pct(x.gatewayLimitSeconds * 1000)}`,
        title: `API Gateway gives up after ${x.gatewayLimitSeconds} s` }),
    ] : [];
    box.replaceChildren(
      el("div", { class: "wf-axis" }, el("span", {}, "state"),
        el("span", { class: "ends" }, el("span", {}, "0"), el("span", {}, ms(span))), el("span", {}, "time")),
      ...rows.map((r) => el("div", { class: "wf-row", "data-state": r.state },
        el("span", {}, r.state, r.attempts > 1 ? el("span", { class: "muted" }, ` ×${r.attempts}`) : ""),
        el("div", { class: "wf-track" },
          el("div", { class: `wf-bar ${r.compensation ? "compensation" : r.afterCatch ? "recovery" : r.errors.length ? "failed" : ""}`,
            style: `left:${pct(r.startMs)};width:${pct(r.endMs - r.startMs)}`,
            title: `${r.state}: ${ms(r.startMs)} → ${ms(r.endMs)}${r.errors.length ? " · " + r.errors.join(", ") : ""}` }),
          marks.map((m) => m && m.cloneNode())),
        el("span", { class: "num" }, ms(r.endMs - r.startMs)))));
  };
  const buttons = ["execution", "budget"].map((s) => el("button", {
    "data-scale": s,
    onclick: (ev) => {
      buttons.forEach((b) => b.classList.toggle("active", b === ev.target));
      draw(s);
    },
  }, s === "execution" ? "this execution" : `against ${x.timeoutSeconds ?? "–"} s TimeoutSeconds and ${x.gatewayLimitSeconds} s gateway`));
  buttons[0].classList.add("active");
  draw("execution");
  const share = x.timeoutSeconds ? ` — ${((x.durationMs / (x.timeoutSeconds * 1000)) * 100).toFixed(2)}% of TimeoutSeconds (${x.timeoutSeconds} s)` : "";
  return [el("p", { class: "muted" }, `The execution took ${ms(x.durationMs)}${share}; API Gateway would give up at ${x.gatewayLimitSeconds} s.`),
    el("div", { class: "toggle" }, "Scale: ", buttons), box];
}

function eventsTable(view) {
  const cell = (d) => {
    const parts = [];
    for (const key of ["input", "output", "parameters"]) {
      if (typeof d[key] === "string") {
        let text = d[key];
        try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* shown as it is */ }
        parts.push(el("details", {}, el("summary", {}, key), el("pre", {}, text)));
      }
    }
    for (const key of ["error", "cause"]) {
      if (d[key]) parts.push(el("div", { class: key === "error" ? "error" : "" }, el("b", {}, `${key}: `), d[key]));
    }
    const rest = Object.fromEntries(Object.entries(d).filter(([k]) =>
      !["name", "input", "output", "parameters", "error", "cause", "inputDetails", "outputDetails"].includes(k)));
    if (Object.keys(rest).length) parts.push(el("code", { class: "muted" }, JSON.stringify(rest)));
    return parts;
  };
  return el("table", { id: "events" },
    el("thead", {}, el("tr", {}, ["#", "Type", "State", "Elapsed", "Details"].map((t) => el("th", {}, t)))),
    el("tbody", {}, view.events.map((ev) => el("tr", { "data-type": ev.type },
      el("td", { class: "num" }, ev.id),
      el("td", {}, ev.type),
      el("td", {}, ev.stateName ?? ""),
      el("td", { class: "num" }, ms(ev.elapsedMs)),
      el("td", {}, cell(ev.details))))));
}

async function renderExecution(gen, arn) {
  const view = await getJson(`/ui/api/executions/${encodeURIComponent(arn)}`);
  if (gen !== generation) return;
  const x = view.execution;
  const taken = new Map(view.takenEdges.map((t) => [`${t.from}\u0000${t.to}\u0000${t.kind}`, t]));
  const decorate = (n) => {
    const s = view.states[n.name];
    const classes = [];
    const badges = [];
    let title = `${n.name} (${n.type})`;
    if (s && s.visited) {
      classes.push("visited", `hl-${s.highlight}`);
      if (s.retries > 0) badges.push({ kind: "retry", text: `↻ ${s.retries}` });
      title += ` — ${s.attempts ? s.attempts + " attempt(s)" : "entered"}${s.errors.length ? ", errors: " + s.errors.join(", ") : ""}`;
    }
    if (s && s.faults.length) {
      classes.push("faulted");
      badges.push({ kind: "fault", text: `⚡ ${s.faults.map((f) => f.mode).join(",")}` });
      title += ` — injected: ${s.faults.map((f) => f.step + "=" + f.mode).join(", ")}`;
    }
    return { classes, badges, title };
  };
  const edgeClass = (e) => {
    if (!taken.has(`${e.from}\u0000${e.to}\u0000${e.kind}`)) return "";
    const target = view.states[e.to];
    return target && target.highlight === "compensation" ? "taken comp" : "taken";
  };
  const http = x.http;
  const compensated = Object.entries(view.states).filter(([, s]) => s.highlight === "compensation").map(([n]) => n);
  main.replaceChildren(
    el("h1", {}, badge(x.status), " ", x.name),
    el("div", { class: "card" }, el("dl", { class: "summary" },
      el("dt", {}, "State machine"), el("dd", {}, el("a", { href: `#/state-machines/${encodeURIComponent(x.stateMachineName)}` }, x.stateMachineName)),
      el("dt", {}, "Execution ARN"), el("dd", {}, el("code", {}, x.executionArn)),
      el("dt", {}, "Started by"), el("dd", {}, startedBy(x)),
      el("dt", {}, "Started"), el("dd", {}, x.startDate),
      el("dt", {}, "Duration"), el("dd", {}, ms(x.durationMs)),
      http ? [el("dt", {}, "HTTP answer"), el("dd", { id: "http-answer" }, `${http.status}`,
        http.problemType ? ` · ${http.problemType}` : "", http.compensation ? ` · compensation ${http.compensation}` : "",
        http.orderId ? [" · order ", el("code", {}, http.orderId)] : "")] : null,
      x.faults.length ? [el("dt", {}, "Injected faults"), el("dd", {}, x.faults.map((f) => `${f.step}=${f.mode}`).join(", "))] : null,
      compensated.length ? [el("dt", {}, "Compensation"), el("dd", { id: "compensated" }, compensated.join(" → "))] : null,
      x.error ? [el("dt", {}, "Error"), el("dd", { class: "error" }, x.error)] : null,
    )),
    ...(view.historyKept ? [] : [el("p", { class: "card", id: "no-history" },
      `This execution's history was not kept: the viewer keeps the events of at most ${view.historiesPerSecond} `
      + "executions a second, and more were running. It is listed with its answer; its path, events and timing are not known.")]),
    el("h2", {}, "Graph"),
    legend([["path taken", "#2f6fdb"], ["compensation", "#d35400"], ["error handling after a Catch", "#8e6bbf"],
      ["failed (caught or final)", "#c0392b"], ["↻ retries", "#7a8591"], ["⚡ injected fault", "#f1c40f"]]),
    drawGraph(view.graph, decorate, edgeClass),
    el("h2", {}, "Timing"),
    ...waterfall(view),
    el("h2", {}, "Events"),
    eventsTable(view),
    el("h2", {}, "Input and output"),
    el("div", { class: "card" },
      el("b", {}, "Input"), el("pre", {}, JSON.stringify(x.input, null, 2)),
      x.output !== null ? [el("b", {}, "Output"), el("pre", {}, JSON.stringify(x.output, null, 2))] : null,
      x.cause ? [el("b", {}, "Cause"), el("pre", {}, x.cause)] : null));
  listen(null);
}

// ---- one state machine -------------------------------------------------------------------------------------------

async function renderMachine(gen, name) {
  const view = await getJson(`/ui/api/state-machines/${encodeURIComponent(name)}`);
  if (gen !== generation) return;
  const worst = new Set(view.worstPath);
  const worstEdges = new Set(view.worstPath.slice(1).map((to, i) => `${view.worstPath[i]}\u0000${to}`));
  const decorate = (n) => ({
    classes: worst.has(n.name) ? ["worst"] : [],
    badges: n.retry.length ? [{ kind: "retry", text: "↻" }] : [],
    title: `${n.name} (${n.type}, ${n.role})`,
  });
  const edgeClass = (e) => (worstEdges.has(`${e.from}\u0000${e.to}`) ? "worst" : "");
  const b = view.budget;
  const path = b.worst_path;
  main.replaceChildren(
    el("h1", {}, "Workflow ", name),
    el("div", { class: "card" }, el("dl", { class: "summary" },
      el("dt", {}, "ARN"), el("dd", {}, el("code", {}, view.stateMachineArn)),
      el("dt", {}, "TimeoutSeconds"), el("dd", {}, view.timeoutSeconds ?? "none"),
      el("dt", {}, "Worst path"), el("dd", { id: "worst-total" }, path ? `${path.total_seconds ?? "unbounded"} s` : "none (see errors)"),
      el("dt", {}, "Budget verdict"), el("dd", { id: "verdict" }, b.verdict.ok ? "ok" : "NOT ok",
        b.errors.length ? el("div", { class: "error" }, b.errors.map((e) => e.message).join("; ")) : ""))),
    el("h2", {}, "Graph"),
    legend([["worst path (saga budget)", "#c2185b"], ["compensation step (reached only through a Catch)", "#d35400"], ["↻ has Retry", "#7a8591"]]),
    drawGraph(view.graph, decorate, edgeClass),
    el("h2", {}, "Worst path, step by step"),
    path ? el("table", { id: "budget" },
      el("thead", {}, el("tr", {}, ["State", "Type", "Via", "Worst case", "Cumulative", "Why"].map((t) => el("th", {}, t)))),
      el("tbody", {}, path.steps.map((s) => el("tr", {},
        el("td", {}, s.state), el("td", {}, s.type), el("td", {}, s.via),
        el("td", { class: "num" }, s.seconds === null ? "∞" : `${s.seconds} s`),
        el("td", { class: "num" }, s.cumulative_seconds === null ? "∞" : `${s.cumulative_seconds} s`),
        el("td", { class: "muted" }, s.detail))))) : el("p", { class: "muted" }, "No bounded path."));
  listen(null);
}

// ---- routing -----------------------------------------------------------------------------------------------------

async function render() {
  const gen = ++generation;
  const hash = decodeURIComponent(location.hash.replace(/^#\/?/, "").split("?")[0]);
  try {
    if (hash.startsWith("executions/")) await renderExecution(gen, hash.slice("executions/".length));
    else if (hash.startsWith("state-machines/")) await renderMachine(gen, hash.slice("state-machines/".length));
    else await renderList(gen);
  } catch (err) {
    if (gen === generation) main.replaceChildren(el("p", { class: "error" }, String(err.message || err)));
  }
}

async function start() {
  try {
    const machines = await getJson("/ui/api/state-machines");
    machines.stateMachines.forEach((m) => addMachineLink(m.name));
  } catch (_) { /* the views say what went wrong */ }
  openStream();
  window.addEventListener("hashchange", render);
  render();
}

start();
