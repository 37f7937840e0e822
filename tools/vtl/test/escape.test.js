'use strict';
// The shim's $util.escapeJavaScript must behave like API Gateway's (commons-lang escapeJavaScript) or the template
// tests prove nothing: in particular it must produce \' for a single quote, which JSON rejects.
const test = require('node:test');
const assert = require('node:assert/strict');
const { escapeJavaScript, renderVtl } = require('../lib/apigw');

test('escapeJavaScript escapes like Java, including the invalid \\\'', () => {
  assert.equal(String(escapeJavaScript(`a'b"c\\d/e`)), `a\\'b\\"c\\\\d\\/e`);
  assert.equal(String(escapeJavaScript('\n\t\r\b\f\u0001\u001f')), '\\n\\t\\r\\b\\f\\u0001\\u001F');
  assert.equal(String(escapeJavaScript('é€😀')), '\\u00E9\\u20AC\\uD83D\\uDE00');
  assert.throws(() => JSON.parse(`"${escapeJavaScript("it's")}"`), SyntaxError);
});

test('the replaceAll fix turns escapeJavaScript output into a valid JSON string body', () => {
  const raw = `it's "quoted" \\ back/slash é 😀 \n`;
  const out = renderVtl(`"$util.escapeJavaScript($input.path('$.s')).replaceAll("\\\\'", "'")"`, {
    body: JSON.stringify({ s: raw }),
  });
  assert.equal(JSON.parse(out.body), raw);
});

test('without the fix a single quote breaks the JSON (the pitfall the templates avoid)', () => {
  const out = renderVtl(`"$util.escapeJavaScript($input.path('$.s'))"`, { body: JSON.stringify({ s: "it's" }) });
  assert.throws(() => JSON.parse(out.body), SyntaxError);
});
