'use strict';
// POST /orders: the request template that starts the execution and the response template that turns
// StartSyncExecution's answer into the HTTP contract (docs/deploy.md, "Execution result -> HTTP").
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { terraformRender, renderVtl } = require('../lib/apigw');
const { STATE_MACHINE_ARN, EXECUTION_ARN, parseJsonBody, workflowProblemStates, sampleProblem } = require('./helpers');

const T = terraformRender({
  requestDefault: ['start-execution.request.vtl', { state_machine_arn: STATE_MACHINE_ARN, enable_fault_injection: false }],
  requestFaults: ['start-execution.request.vtl', { state_machine_arn: STATE_MACHINE_ARN, enable_fault_injection: true }],
  response: ['start-execution.response.vtl', {}],
  error: ['start-execution.error.vtl', {}],
});

const TRICKY_BODY = {
  customerId: `O'Brien "the \\ customer" </script> é ü 中文 😀 \n\t tab`,
  items: [
    { sku: "SKU-'1'", quantity: 2 },
    { sku: 'SKU-"2"\\', quantity: 1000 },
  ],
};

function startRequest(template, { body = TRICKY_BODY, headers = {} } = {}) {
  const out = renderVtl(template, {
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers },
    context: { requestId: 'f00dfeed-1234-4abc-8def-0123456789ab' },
  });
  const call = parseJsonBody(out.body);
  return { call, input: parseJsonBody(call.input) };
}

// --- request ----------------------------------------------------------------------------------------------

test('request: StartSyncExecution call names the state machine and leaves the execution name to Step Functions', () => {
  // The execution name becomes the order id. A client can set $context.requestId with x-amzn-RequestId, so the
  // template must not name the execution after it: without "name", Step Functions generates a UUID.
  for (const template of [T.requestDefault, T.requestFaults]) {
    const { call } = startRequest(template, { headers: { 'x-amzn-RequestId': 'f00dfeed-1234-4abc-8def-0123456789ab' } });
    assert.equal(call.stateMachineArn, STATE_MACHINE_ARN);
    assert.deepEqual(Object.keys(call).sort(), ['input', 'stateMachineArn']);
    assert.equal(typeof call.input, 'string');
  }
});

test('request: input round-trips a body with quotes, single quotes, backslashes, unicode and control characters', () => {
  const { input } = startRequest(T.requestDefault);
  assert.deepEqual(input.request, TRICKY_BODY);
  assert.equal(input.requestId, 'f00dfeed-1234-4abc-8def-0123456789ab');
});

test('request: Idempotency-Key travels as a JSON string, whatever its characters and header case', () => {
  const key = `k'e"y\\ é 😀`;
  for (const name of ['Idempotency-Key', 'idempotency-key', 'IDEMPOTENCY-KEY']) {
    const { input } = startRequest(T.requestDefault, { headers: { [name]: key } });
    assert.equal(input.idempotencyKey, key, name);
  }
});

test('request: no Idempotency-Key gives null', () => {
  const { input } = startRequest(T.requestDefault);
  assert.equal(input.idempotencyKey, null);
});

test('request: with fault injection off (the default) X-Saga-Fault is ignored', () => {
  const { input } = startRequest(T.requestDefault, { headers: { 'X-Saga-Fault': 'reserve-stock:transient' } });
  assert.equal(input.faults, null);
  assert.ok(!/x-saga-fault/i.test(T.requestDefault), 'the default template must not mention the header at all');
});

test('request: with fault injection on, X-Saga-Fault is forwarded as a JSON string, or null when absent', () => {
  const fault = `reserve-stock:transient,confirm-order:"timeout"'`;
  assert.equal(startRequest(T.requestFaults, { headers: { 'x-saga-fault': fault } }).input.faults, fault);
  assert.equal(startRequest(T.requestFaults).input.faults, null);
});

test('request: input has exactly the members the workflow reads', () => {
  const { input } = startRequest(T.requestDefault, { headers: { 'Idempotency-Key': 'k1' } });
  assert.deepEqual(Object.keys(input).sort(), ['faults', 'idempotencyKey', 'request', 'requestId']);
});

// --- response ---------------------------------------------------------------------------------------------

function sfnResponse(fields) {
  return {
    executionArn: EXECUTION_ARN,
    stateMachineArn: STATE_MACHINE_ARN,
    name: 'c0ffee00',
    startDate: 1.7e9,
    stopDate: 1.7e9 + 1,
    billingDetails: { billedDurationInMilliseconds: 300, billedMemoryUsedInMB: 64 },
    ...fields,
  };
}

function answer(fields, { doubles = false } = {}) {
  const out = renderVtl(T.response, { body: JSON.stringify(sfnResponse(fields)), doubles });
  return { ...out, json: parseJsonBody(out.body) };
}

function assertFallback500(res, message) {
  assert.equal(res.status, 500, message);
  assert.equal(res.headers['Content-Type'], 'application/problem+json');
  assert.equal(res.json.type, '/problems/execution-failed');
  assert.equal(res.json.title, 'The saga execution failed');
  assert.equal(res.json.status, 500);
  assert.equal(res.json.compensation, 'pending');
  assert.equal(res.headers['X-Saga-Execution'], EXECUTION_ARN);
}

const CONFIRMED_BODY = {
  orderId: 'c0ffee00-0000-4000-8000-000000000001',
  status: 'CONFIRMED',
  items: [{ sku: `SKU-'1' "x" \\ é`, quantity: 2 }],
};

test('SUCCEEDED: 201 with the body, Location and X-Saga-Execution', () => {
  const res = answer({ status: 'SUCCEEDED', output: JSON.stringify({ statusCode: 201, body: CONFIRMED_BODY }) });
  assert.equal(res.status, 201);
  assert.deepEqual(res.json, CONFIRMED_BODY);
  assert.equal(res.headers['Content-Type'], 'application/json');
  // Relative, so that it resolves under the stage prefix: POST .../v1/orders + orders/{id} = .../v1/orders/{id}.
  assert.equal(res.headers.Location, `orders/${CONFIRMED_BODY.orderId}`);
  assert.equal(new URL(res.headers.Location, 'https://x.execute-api.eu-west-1.amazonaws.com/v1/orders').pathname, `/v1/orders/${CONFIRMED_BODY.orderId}`);
  assert.equal(res.headers['X-Saga-Execution'], EXECUTION_ARN);
});

test('the status is the same whether $util.parseJson renders numbers as 201 or as 201.0', () => {
  for (const doubles of [false, true]) {
    const created = answer({ status: 'SUCCEEDED', output: JSON.stringify({ statusCode: 201, body: CONFIRMED_BODY }) }, { doubles });
    assert.equal(created.status, 201, `doubles: ${doubles}`);
    assert.deepEqual(created.json, CONFIRMED_BODY);
    const reordered = answer({ status: 'SUCCEEDED', output: `{"body":${JSON.stringify(CONFIRMED_BODY)},"statusCode":201}` }, { doubles });
    assert.equal(reordered.status, 201, `doubles: ${doubles}`);
    const problem = { type: '/problems/insufficient-stock', title: 't', status: 409, detail: 'd', orderId: 'o', compensation: 'completed' };
    const rejected = answer({ status: 'FAILED', error: 'Saga.InsufficientStock', cause: JSON.stringify(problem) }, { doubles });
    assert.equal(rejected.status, 409, `doubles: ${doubles}`);
    assert.deepEqual(rejected.json, problem);
  }
});

test('a status that is not three digits followed by the end of the number is outside the contract', () => {
  for (const output of ['{"statusCode":2010,"body":{"orderId":"o"}}', '{"statusCode":201.0,"body":{"orderId":"o"}}', '{"body":{"orderId":"o"},"statusCode":20}']) {
    assertFallback500(answer({ status: 'SUCCEEDED', output }), output);
  }
  for (const cause of ['{"type":"x","status":4090,"compensation":"completed"}', '{"type":"x","status":"409"}', '{"type":"x","detail":"\\"status\\":409"}']) {
    assertFallback500(answer({ status: 'FAILED', error: 'E', cause }), cause);
  }
});

test('SUCCEEDED: the body is found whatever the member order of the output', () => {
  const output = `{"body":${JSON.stringify(CONFIRMED_BODY)},"statusCode":201}`;
  const res = answer({ status: 'SUCCEEDED', output });
  assert.equal(res.status, 201);
  assert.deepEqual(res.json, CONFIRMED_BODY);
});

test('SUCCEEDED: an output outside the contract is a 500 problem, not a 200', () => {
  for (const output of ['"just a string"', '{"statusCode":201}', '{"statusCode":"abc","body":{"orderId":"x"}}', '{}']) {
    assertFallback500(answer({ status: 'SUCCEEDED', output }), output);
  }
  assertFallback500(answer({ status: 'SUCCEEDED' }), 'no output');
});

const PROBLEM_STATES = workflowProblemStates();

test('FAILED: the workflow can produce 400, 409, 422, 500, 502, 503 and 504 problems', () => {
  const statuses = [...new Set(PROBLEM_STATES.map((s) => s.parameters.status))].sort();
  assert.deepEqual(statuses, [400, 409, 422, 500, 502, 503, 504]);
});

for (const { name, parameters } of PROBLEM_STATES) {
  test(`FAILED with the ${name} problem (${parameters.status}): that status, the cause verbatim as problem+json`, () => {
    const problem = sampleProblem(parameters);
    const cause = JSON.stringify(problem);
    const res = answer({ status: 'FAILED', error: 'Saga.InsufficientStock', cause });
    assert.equal(res.status, parameters.status);
    assert.equal(res.headers['Content-Type'], 'application/problem+json');
    assert.equal(res.headers['X-Saga-Execution'], EXECUTION_ARN);
    assert.equal(res.body.trim(), cause);
    assert.deepEqual(res.json, problem);
    assert.equal(res.headers.Location, undefined);
  });
}

test('FAILED with a non-JSON cause: 500 execution-failed naming the error', () => {
  const res = answer({
    status: 'FAILED',
    error: 'States.Runtime',
    cause: "An error occurred while executing the state 'ParseCause' (entered at the event id #12).",
  });
  assertFallback500(res);
  assert.equal(
    res.json.detail,
    'The workflow failed with States.Runtime outside its contract; the order sweeper will compensate.',
  );
});

test('FAILED without a cause, or with a cause outside the contract: 500 execution-failed', () => {
  assertFallback500(answer({ status: 'FAILED', error: 'Lambda.Unknown' }), 'no cause');
  assertFallback500(answer({ status: 'FAILED', error: 'X', cause: '{"errorType":"X","errorMessage":"boom"}' }), 'no status');
  assertFallback500(answer({ status: 'FAILED', error: 'X', cause: '{"type":"/p","status":200}' }), '200 status');
  assertFallback500(answer({ status: 'FAILED', error: 'X', cause: '{"type":"/p","status":600}' }), '600 status');
  assertFallback500(answer({ status: 'FAILED', error: 'X', cause: '{"type":"/p","status":409.5}' }), 'non-integer status');
  assertFallback500(answer({ status: 'FAILED', cause: 'oops' }), 'no error name');
});

test('FAILED with an error name full of quotes still answers valid JSON', () => {
  const error = `Weird"Error'\\Name é`;
  const res = answer({ status: 'FAILED', error, cause: 'not json' });
  assertFallback500(res);
  assert.ok(res.json.detail.includes(error));
});

test('TIMED_OUT: 500 saga-timed-out, compensation pending', () => {
  const res = answer({ status: 'TIMED_OUT', error: 'States.Timeout' });
  assert.equal(res.status, 500);
  assert.equal(res.headers['Content-Type'], 'application/problem+json');
  assert.equal(res.headers['X-Saga-Execution'], EXECUTION_ARN);
  assert.equal(res.json.type, '/problems/saga-timed-out');
  assert.equal(res.json.title, 'The saga did not finish in time');
  assert.equal(res.json.status, 500);
  assert.equal(res.json.compensation, 'pending');
  assert.equal(typeof res.json.detail, 'string');
});

function executionInput(idempotencyKey) {
  return JSON.stringify({ request: { customerId: 'c' }, idempotencyKey, faults: null, requestId: 'c0ffee00' });
}

const KEY_OUTCOME_UNKNOWN =
  ' This answer cannot tell what became of the order under its Idempotency-Key, which this or an earlier request may have placed; retry with the same key to get its outcome.';

test('a keyed request: every 500 the template builds says the key outcome is unknown', () => {
  const cases = [
    [{ status: 'TIMED_OUT', error: 'States.Timeout' }, '/problems/saga-timed-out'],
    [{ status: 'FAILED', error: 'States.Runtime', cause: 'not json' }, '/problems/execution-failed'],
    [{ status: 'SUCCEEDED', output: '{}' }, '/problems/execution-failed'],
    [{ status: 'ABORTED' }, '/problems/execution-failed'],
  ];
  for (const [fields, type] of cases) {
    const res = answer({ ...fields, input: executionInput(`k'1"\\é`) });
    assert.equal(res.status, 500, fields.status);
    assert.equal(res.headers['Content-Type'], 'application/problem+json');
    assert.equal(res.json.type, type, fields.status);
    assert.equal(res.json.compensation, 'pending');
    assert.equal(res.json.idempotencyKeyOutcome, 'unknown', fields.status);
    assert.ok(res.json.detail.endsWith(KEY_OUTCOME_UNKNOWN), res.json.detail);
  }
});

test('no key, an empty key or no input: the 500s carry no key outcome', () => {
  for (const input of [executionInput(null), executionInput(''), undefined, 'not json']) {
    const res = answer({ status: 'TIMED_OUT', error: 'States.Timeout', input });
    assert.equal(res.status, 500);
    assert.equal(res.json.type, '/problems/saga-timed-out');
    assert.equal(res.json.idempotencyKeyOutcome, undefined, String(input));
    assert.ok(!res.json.detail.includes('Idempotency-Key'), String(input));
  }
});

test('a keyed request: the workflow\'s own problems pass through verbatim', () => {
  const problem = { type: '/problems/insufficient-stock', title: 't', status: 409, detail: 'd', compensation: 'completed' };
  const res = answer({ status: 'FAILED', error: 'Saga.InsufficientStock', cause: JSON.stringify(problem), input: executionInput('k1') });
  assert.equal(res.status, 409);
  assert.deepEqual(res.json, problem);
});

test('the template and the local server build the same TIMED_OUT answer', () => {
  const source = (file) => fs.readFileSync(path.join(__dirname, '../../../crates/saga-local/src', file), 'utf8');
  const mapping = source('mapping.rs');
  const res = answer({ status: 'TIMED_OUT', error: 'States.Timeout', input: executionInput('k1') });
  // Titles belong to the problem kinds (problem.rs); details and the key outcome sentence to the mapping.
  assert.ok(source('problem.rs').includes(`ProblemKind::SagaTimedOut => "${res.json.title}"`), 'title');
  assert.ok(mapping.includes(`"${res.json.detail.slice(0, -KEY_OUTCOME_UNKNOWN.length)}"`), 'detail');
  assert.ok(mapping.includes(`pub const KEY_OUTCOME_UNKNOWN: &str = "${KEY_OUTCOME_UNKNOWN}";`), 'key outcome sentence');
});

test('any other status: 500 execution-failed', () => {
  for (const status of ['ABORTED', 'RUNNING', `odd"status'`, undefined]) {
    assertFallback500(answer({ status }), String(status));
  }
});

test('FAILED and TIMED_OUT never answer 200', () => {
  for (const status of ['FAILED', 'TIMED_OUT']) {
    for (const cause of [undefined, '', 'x', '{}', '{"status":200}']) {
      const res = answer({ status, error: 'E', cause });
      assert.ok(res.status >= 400, `${status} ${cause} answered ${res.status}`);
    }
  }
});

// --- StartSyncExecution refused ----------------------------------------------------------------------------

test('Step Functions throttling: 503 problem, nothing to compensate', () => {
  const out = renderVtl(T.error, { body: JSON.stringify({ __type: 'com.amazonaws.swf.service.v2.model#ThrottlingException', message: 'Rate exceeded' }) });
  const json = parseJsonBody(out.body);
  assert.equal(out.status, 503);
  assert.equal(json.status, 503);
  assert.equal(json.compensation, 'not-needed');
  assert.equal(out.headers['Content-Type'], 'application/problem+json');
});

test('Step Functions refusing for another reason: 500 problem, nothing to compensate', () => {
  for (const type of ['StateMachineDoesNotExist', 'AccessDeniedException', 'com.amazonaws.swf.service.v2.model#InvalidExecutionInput']) {
    const out = renderVtl(T.error, { body: JSON.stringify({ __type: type, message: 'x' }), headers: { 'Idempotency-Key': 'k1' } });
    const json = parseJsonBody(out.body);
    assert.equal(out.status, 500, type);
    assert.equal(json.type, '/problems/saga-not-started', type);
    assert.equal(json.status, 500);
    assert.equal(json.compensation, 'not-needed');
    assert.equal(json.idempotencyKeyOutcome, undefined);
  }
});

test('Step Functions failing (5xx, or an error it does not name): cannot tell whether an execution ran', () => {
  for (const body of [{ __type: 'InternalFailure', message: 'x' }, { __type: 'ServiceUnavailable' }, { message: 'x' }]) {
    const out = renderVtl(T.error, { body: JSON.stringify(body) });
    const json = parseJsonBody(out.body);
    assert.equal(out.status, 500);
    assert.equal(out.headers['Content-Type'], 'application/problem+json');
    assert.equal(json.type, '/problems/execution-failed');
    assert.equal(json.compensation, 'pending', 'an execution may have started: its compensation is not known to be needless');
    assert.equal(json.idempotencyKeyOutcome, undefined, 'no key, no key outcome');
  }
  for (const name of ['Idempotency-Key', 'idempotency-key']) {
    const out = renderVtl(T.error, { body: JSON.stringify({ __type: 'InternalFailure' }), headers: { [name]: `k'"1` } });
    const json = parseJsonBody(out.body);
    assert.equal(json.compensation, 'pending');
    assert.equal(json.idempotencyKeyOutcome, 'unknown', name);
    assert.match(json.detail, /retry with the same key/);
  }
});
