'use strict';
// GET /orders/{orderId}, GET /inventory/{sku} and PUT /inventory/{sku}: DynamoDB service integrations.
const test = require('node:test');
const assert = require('node:assert/strict');
const { terraformRender, renderVtl } = require('../lib/apigw');
const { parseJsonBody } = require('./helpers');

const T = terraformRender({
  getOrderRequest: ['get-order.request.vtl', { orders_table: 'order-saga-orders' }],
  getOrderResponse: ['get-order.response.vtl', {}],
  getInventoryRequest: ['get-inventory.request.vtl', { inventory_table: 'order-saga-inventory' }],
  putInventoryRequest: ['put-inventory.request.vtl', { inventory_table: 'order-saga-inventory' }],
  getInventoryResponse: ['inventory.response.vtl', { item_member: 'Item' }],
  putInventoryResponse: ['inventory.response.vtl', { item_member: 'Attributes' }],
  error: ['dynamodb.error.vtl', {}],
});

const TRICKY_ID = `id'with"quotes\\and é 😀`;

function render(template, request) {
  const out = renderVtl(template, request);
  return { ...out, json: parseJsonBody(out.body) };
}

const ORDER_ITEM = {
  orderId: { S: 'c0ffee00-0000-4000-8000-000000000001' },
  status: { S: 'CONFIRMED' },
  customerId: { S: `O'Brien "c" \\ é` },
  items: { L: [{ M: { sku: { S: "SKU-'1'" }, quantity: { N: '2' } } }, { M: { sku: { S: 'SKU-2' }, quantity: { N: '1' } } }] },
  createdAt: { N: '1732670000123' },
  updatedAt: { N: '1732670001456' },
  idempotencyKey: { S: 'k1' },
  requestHash: { S: 'abc' },
};

test('GET order request: a GetItem on the orders table with the escaped path id', () => {
  const { json } = render(T.getOrderRequest, { path: { orderId: TRICKY_ID } });
  assert.deepEqual(json, { TableName: 'order-saga-orders', Key: { orderId: { S: TRICKY_ID } }, ConsistentRead: true });
});

test('GET order response: the public order shape with epoch-ms integers', () => {
  const res = render(T.getOrderResponse, { body: JSON.stringify({ Item: ORDER_ITEM }) });
  assert.equal(res.status, undefined, 'stays 200');
  assert.deepEqual(res.json, {
    orderId: 'c0ffee00-0000-4000-8000-000000000001',
    status: 'CONFIRMED',
    customerId: `O'Brien "c" \\ é`,
    items: [
      { sku: "SKU-'1'", quantity: 2 },
      { sku: 'SKU-2', quantity: 1 },
    ],
    createdAt: 1732670000123,
    updatedAt: 1732670001456,
  });
});

test('GET order response: unknown id is a 404 problem', () => {
  const res = render(T.getOrderResponse, { body: '{}' });
  assert.equal(res.status, 404);
  assert.equal(res.headers['Content-Type'], 'application/problem+json');
  assert.equal(res.json.status, 404);
  assert.equal(res.json.type, '/problems/order-not-found');
});

test('GET order response: a tombstone is a 404 problem', () => {
  const tombstone = { orderId: ORDER_ITEM.orderId, status: { S: 'CANCELLED' }, tombstone: { BOOL: true }, createdAt: ORDER_ITEM.createdAt, updatedAt: ORDER_ITEM.updatedAt };
  const res = render(T.getOrderResponse, { body: JSON.stringify({ Item: tombstone }) });
  assert.equal(res.status, 404);
  assert.equal(res.json.type, '/problems/order-not-found');
});

test('GET order response: a cancelled order (not a tombstone) is returned', () => {
  const cancelled = { ...ORDER_ITEM, status: { S: 'CANCELLED' }, tombstone: { BOOL: false }, failure: { M: { Error: { S: 'Saga.InsufficientStock' }, Cause: { S: '{}' } } } };
  const res = render(T.getOrderResponse, { body: JSON.stringify({ Item: cancelled }) });
  assert.equal(res.status, undefined);
  assert.equal(res.json.status, 'CANCELLED');
});

test('GET inventory request: a GetItem on the inventory table', () => {
  const { json } = render(T.getInventoryRequest, { path: { sku: TRICKY_ID } });
  assert.deepEqual(json, { TableName: 'order-saga-inventory', Key: { sku: { S: TRICKY_ID } }, ConsistentRead: true });
});

test('GET inventory response: the stock level; a missing reserved counter reads 0', () => {
  let res = render(T.getInventoryResponse, { body: JSON.stringify({ Item: { sku: { S: TRICKY_ID }, available: { N: '7' }, reserved: { N: '3' } } }) });
  assert.deepEqual(res.json, { sku: TRICKY_ID, available: 7, reserved: 3 });
  res = render(T.getInventoryResponse, { body: JSON.stringify({ Item: { sku: { S: 'A' }, available: { N: '7' } } }) });
  assert.deepEqual(res.json, { sku: 'A', available: 7, reserved: 0 });
});

test('GET inventory response: unknown SKU is a 404 problem', () => {
  const res = render(T.getInventoryResponse, { body: '{}' });
  assert.equal(res.status, 404);
  assert.equal(res.headers['Content-Type'], 'application/problem+json');
  assert.equal(res.json.type, '/problems/sku-not-found');
});

test('PUT inventory request: sets available, keeps reserved (or starts it at 0), returns the new item', () => {
  const { json } = render(T.putInventoryRequest, { path: { sku: TRICKY_ID }, body: JSON.stringify({ available: 42 }) });
  assert.deepEqual(json, {
    TableName: 'order-saga-inventory',
    Key: { sku: { S: TRICKY_ID } },
    UpdateExpression: 'SET available = :available, reserved = if_not_exists(reserved, :zero)',
    ExpressionAttributeValues: { ':available': { N: '42' }, ':zero': { N: '0' } },
    ReturnValues: 'ALL_NEW',
  });
});

test('PUT inventory response: 200 with the stock level from ALL_NEW attributes', () => {
  const res = render(T.putInventoryResponse, { body: JSON.stringify({ Attributes: { sku: { S: 'A' }, available: { N: '0' }, reserved: { N: '5' } } }) });
  assert.equal(res.status, undefined);
  assert.deepEqual(res.json, { sku: 'A', available: 0, reserved: 5 });
});

test('DynamoDB errors: validation is 400, anything else 503, both problems', () => {
  let res = render(T.error, { body: JSON.stringify({ __type: 'com.amazon.coral.validate#ValidationException', message: 'key too long' }) });
  assert.equal(res.status, 400);
  assert.equal(res.json.status, 400);
  res = render(T.error, { body: JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException' }) });
  assert.equal(res.status, 503);
  assert.equal(res.json.status, 503);
  assert.equal(res.headers['Content-Type'], 'application/problem+json');
});
