'use strict';
// The workflow definition is valid Amazon States Language by two independent validators.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const WORKFLOW_PATH = path.resolve(__dirname, '../../../workflow.asl.json');
const BIN = path.resolve(__dirname, '../node_modules/.bin');

test('workflow.asl.json passes @wmfs/statelint', () => {
  const out = execFileSync(path.join(BIN, 'statelint'), [WORKFLOW_PATH], { encoding: 'utf8' });
  assert.equal(out.trim(), '');
});

test('workflow.asl.json passes asl-validator', () => {
  const out = execFileSync(path.join(BIN, 'asl-validator'), ['--json-path', WORKFLOW_PATH], { encoding: 'utf8' });
  assert.match(out, /is valid/);
});

test('every Task has a TimeoutSeconds and the workflow a top-level one below 29 s', () => {
  const wf = require(WORKFLOW_PATH);
  assert.ok(wf.TimeoutSeconds < 29);
  for (const [name, state] of Object.entries(wf.States)) {
    if (state.Type === 'Task') assert.ok(Number.isInteger(state.TimeoutSeconds), `${name} has no TimeoutSeconds`);
  }
});
