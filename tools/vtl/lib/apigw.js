'use strict';
// Renders the API Gateway mapping templates under terraform/templates the way a deployment does:
//   1. Terraform's templatefile fills the deployment values (run through `terraform console`, so the real
//      function does the work and a stray "${" or "%{" fails here as it would in a plan);
//   2. velocityjs evaluates the VTL with a shim of API Gateway's $input, $util and $context.
// The shim follows the API Gateway developer guide's "mapping template reference" and, for $util.escapeJavaScript,
// Java's StringEscapeUtils.escapeJavaScript (commons-lang 2), including its invalid-in-JSON \' for a single quote.

const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const velocity = require('velocityjs');

const TEMPLATE_DIR = path.resolve(__dirname, '../../../terraform/templates');

// --- step 1: Terraform ---------------------------------------------------------------------------------------

/** Renders several templates with templatefile in one `terraform console` call: {key: [file, vars]} -> {key: text}. */
function terraformRender(specs) {
  const entries = Object.entries(specs).map(([key, [file, vars]]) => {
    const hclVars = Object.entries(vars)
      .map(([k, v]) => `${k} = ${JSON.stringify(v)}`)
      .join(', ');
    const abs = path.join(TEMPLATE_DIR, file);
    return `${JSON.stringify(key)} = templatefile(${JSON.stringify(abs)}, {${hclVars}})`;
  });
  const expr = `base64encode(jsonencode({${entries.join(', ')}}))\n`;
  // An empty directory: console needs no providers and no init to evaluate a function call.
  const cwd = fs.mkdtempSync(path.join(os.tmpdir(), 'vtl-tf-'));
  let out;
  try {
    out = execFileSync(process.env.TERRAFORM || 'terraform', ['console'], {
      cwd,
      input: expr,
      env: { ...process.env, TF_CLI_CONFIG_FILE: process.env.TF_CLI_CONFIG_FILE || path.join(TEMPLATE_DIR, '..', '.terraformrc'), TF_IN_AUTOMATION: '1' },
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    if (err.code === 'ENOENT') {
      throw new Error('terraform is not on PATH (set TERRAFORM to its path): the templates are rendered with templatefile first');
    }
    throw new Error(`terraform console failed: ${err.stderr || err.message}`);
  } finally {
    fs.rmSync(cwd, { recursive: true, force: true });
  }
  const b64 = JSON.parse(out.trim());
  return JSON.parse(Buffer.from(b64, 'base64').toString('utf8'));
}

// --- step 2: VTL with an API Gateway shim ----------------------------------------------------------------------

// Java String methods the templates call that JavaScript strings lack. Installed once, non-enumerable, only in this
// test process.
for (const [name, fn] of Object.entries({
  matches(regex) {
    return new RegExp(`^(?:${regex})$`).test(String(this));
  },
  contains(s) {
    return String(this).includes(String(s));
  },
  equalsIgnoreCase(s) {
    return String(this).toLowerCase() === String(s).toLowerCase();
  },
})) {
  if (!Object.prototype.hasOwnProperty.call(String.prototype, name)) {
    Object.defineProperty(String.prototype, name, { value: fn, enumerable: false, configurable: true, writable: true });
  }
}

/**
 * A java.lang.String as returned by $util.escapeJavaScript: replaceAll takes a Java regular expression (the JS
 * String.prototype.replaceAll would take the pattern literally).
 */
class JavaString extends String {
  // A toString of our own makes velocityjs print the text instead of formatting the object as a map.
  toString() {
    return String.prototype.toString.call(this);
  }

  replaceAll(regex, replacement) {
    const re = new RegExp(String(regex), 'g');
    // In a Java replacement, \x means x and $n a group; the templates use neither, but honour \ like Java does.
    const rep = String(replacement).replace(/\\(.)/g, '$1').replace(/\$(?!\d)/g, '$$$$');
    return new JavaString(String(this).replace(re, rep));
  }
}

/** commons-lang 2 StringEscapeUtils.escapeJavaScript, as $util.escapeJavaScript uses it. */
function escapeJavaScript(value) {
  if (value === null || value === undefined) return null;
  const s = String(value);
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i); // UTF-16 code units, as Java's char
    const hex = ch.toString(16).toUpperCase();
    if (ch > 0xfff) out += `\\u${hex}`;
    else if (ch > 0xff) out += `\\u0${hex}`;
    else if (ch > 0x7f) out += `\\u00${hex}`;
    else if (ch < 32) {
      switch (ch) {
        case 0x08: out += '\\b'; break;
        case 0x0a: out += '\\n'; break;
        case 0x09: out += '\\t'; break;
        case 0x0c: out += '\\f'; break;
        case 0x0d: out += '\\r'; break;
        default: out += ch > 0xf ? `\\u00${hex}` : `\\u000${hex}`;
      }
    } else {
      switch (s[i]) {
        case "'": out += "\\'"; break;
        case '"': out += '\\"'; break;
        case '\\': out += '\\\\'; break;
        case '/': out += '\\/'; break;
        default: out += s[i];
      }
    }
  }
  return new JavaString(out);
}

/** A small JSONPath: $, $.a.b, $.a[0], $['a-b']. Returns undefined when the path does not exist. */
function jsonPath(doc, expr) {
  if (!expr.startsWith('$')) throw new Error(`unsupported JSONPath ${expr}`);
  const tokens = [];
  const re = /\.([A-Za-z_$][\w$-]*)|\[(\d+)\]|\['([^']*)'\]/y;
  re.lastIndex = 1;
  while (re.lastIndex < expr.length) {
    const m = re.exec(expr);
    if (!m) throw new Error(`unsupported JSONPath ${expr}`);
    tokens.push(m[1] ?? (m[2] !== undefined ? Number(m[2]) : m[3]));
  }
  let cur = doc;
  for (const t of tokens) {
    if (cur === null || typeof cur !== 'object' || !(t in cur)) return undefined;
    cur = cur[t];
  }
  return cur;
}

/** A java.util.Map as API Gateway hands out for $input.params().header and friends. */
function javaMap(obj) {
  return {
    get: (k) => (Object.prototype.hasOwnProperty.call(obj, k) ? obj[k] : null),
    keySet: () => Object.keys(obj),
    containsKey: (k) => Object.prototype.hasOwnProperty.call(obj, k),
    size: () => Object.keys(obj).length,
    isEmpty: () => Object.keys(obj).length === 0,
  };
}

/** A JSON.parse reviver: every number compares as itself but renders as a Java Double ("201.0"). */
function asJavaDouble(_key, value) {
  if (typeof value !== 'number') return value;
  return { valueOf: () => value, toString: () => (Number.isInteger(value) ? value.toFixed(1) : String(value)) };
}

/**
 * Evaluates a mapping template.
 * request: { body: string, headers: {}, path: {}, querystring: {} }; context: extra $context members.
 * doubles: make $util.parseJson give numbers that render as Java doubles do ("201.0"), as a JSON library may.
 * Returns { body, status, headers } where status/headers are the $context.responseOverride values set.
 */
function renderVtl(template, { body = '', headers = {}, path: pathParams = {}, querystring = {}, context = {}, doubles = false } = {}) {
  let parsed;
  const doc = () => {
    if (parsed === undefined) parsed = body === '' ? {} : JSON.parse(body);
    return parsed;
  };
  const params = { path: pathParams, querystring, header: headers };
  const input = {
    body,
    json: (p) => {
      const v = jsonPath(doc(), p);
      return v === undefined ? '' : JSON.stringify(v);
    },
    // A missing path is Java's null, which "$!..." renders as "". velocityjs renders JS undefined that way (and
    // JS null as "null"), so undefined stands for null here.
    path: (p) => jsonPath(doc(), p),
    params: (name) => {
      if (name === undefined) {
        return { path: javaMap(pathParams), querystring: javaMap(querystring), header: javaMap(headers) };
      }
      for (const where of ['path', 'querystring', 'header']) {
        if (Object.prototype.hasOwnProperty.call(params[where], name)) return params[where][name];
      }
      return '';
    },
  };
  const util = {
    escapeJavaScript,
    parseJson: (s) => JSON.parse(String(s), doubles ? asJavaDouble : undefined),
    urlEncode: (s) => encodeURIComponent(String(s)),
    urlDecode: (s) => decodeURIComponent(String(s)),
    base64Encode: (s) => Buffer.from(String(s)).toString('base64'),
    base64Decode: (s) => Buffer.from(String(s), 'base64').toString('utf8'),
  };
  const ctx = {
    requestId: 'c0ffee00-0000-4000-8000-000000000001',
    stage: 'v1',
    ...context,
    responseOverride: { header: {} },
    requestOverride: { header: {}, path: {}, querystring: {} },
  };
  const out = velocity.render(template, { input, util, context: ctx }, {}, { escape: false });
  const status = ctx.responseOverride.status;
  return {
    body: out,
    status: status === undefined ? undefined : Number(String(status)),
    headers: { ...ctx.responseOverride.header },
  };
}

module.exports = { terraformRender, renderVtl, escapeJavaScript, jsonPath, TEMPLATE_DIR };
