'use strict';
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const WORKFLOW = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../workflow.asl.json'), 'utf8'));
const STATE_MACHINE_ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:order-saga-order-saga';
const EXECUTION_ARN = 'arn:aws:states:eu-west-1:123456789012:express:order-saga-order-saga:c0ffee00:c0ffee01';

/** Parses a rendered body as JSON, failing with the text when it is not. */
function parseJsonBody(text) {
  try {
    return JSON.parse(text);
  } catch (err) {
    assert.fail(`not JSON (${err.message}):\n${text}`);
  }
}

/** Every problem status a Pass state of the workflow can put into the Fail cause. */
function workflowProblemStates() {
  return Object.entries(WORKFLOW.States)
    .filter(([, s]) => s.Type === 'Pass' && s.Parameters && Number.isInteger(s.Parameters.status))
    .map(([name, s]) => ({ name, parameters: s.Parameters }));
}

/** The problem a Problem* state produces, with its JSONPath members filled with sample text. */
function sampleProblem(parameters) {
  const out = {};
  for (const [k, v] of Object.entries(parameters)) {
    if (k.endsWith('.$')) out[k.slice(0, -2)] = k === 'orderId.$' ? 'c0ffee00-0000-4000-8000-000000000001' : `Sample "${k}" with a quote ' and a \\ backslash`;
    else out[k] = v;
  }
  return out;
}

module.exports = { WORKFLOW, STATE_MACHINE_ARN, EXECUTION_ARN, parseJsonBody, workflowProblemStates, sampleProblem };
