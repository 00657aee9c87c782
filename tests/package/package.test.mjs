// The built package as a page uses it: pkg/index.js imported by a plain
// <script type="module"> in headless Chromium (Debian's, through playwright-core),
// against the fault server. Checks what the wasm-bindgen tests cannot: the
// exports, the self-initialising entry, the minified glue and the JS error shape.
// Run by `npm test` after `npm run build`: node --test tests/package/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize } from 'node:path';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { startFaultServer } from '../../www/fault-server.mjs';

const root = new URL('../../', import.meta.url).pathname;
const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
let faults, site, browser, page;

/** Serves pkg/ and an empty page from 127.0.0.1. */
function startSite() {
  const server = createServer(async (req, res) => {
    const path = normalize(new URL(req.url, 'http://x').pathname);
    if (path === '/') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>package</title>');
      return;
    }
    if (!path.startsWith('/pkg/')) return res.writeHead(404).end();
    try {
      const body = await readFile(join(root, path));
      res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  faults = await startFaultServer({ port: 0 });
  site = await startSite();
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  browser = await chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${site.address().port}/`);
});

after(async () => {
  await browser?.close();
  site?.close();
  await faults?.close();
});

/** Runs `body(api, base)` in the page, with the package imported as a page would. */
function inPage(session, body) {
  return page.evaluate(async ([source, base]) => {
    const api = await import('/pkg/index.js');
    return new Function('api', 'base', `return (async () => { ${source} })()`)(api, base);
  }, [body, `${faults.url}/s/${session}`]);
}

test('the entry exports the API and initialises itself', async () => {
  const names = await inPage('pkg', 'return Object.keys(api).sort();');
  assert.deepEqual(names, ['Resilience', 'createResilience', 'validateConfig']);
});

test('an invalid config throws a CONFIG error naming the field', async () => {
  const error = await inPage('config', `
    try { api.createResilience({ enabled: true, retry: { maxAttempts: 0 } }); return null; }
    catch (e) { return { name: e.name, code: e.code, field: e.field, message: e.message, isError: e instanceof Error }; }`);
  assert.deepEqual(error, {
    name: 'ResilienceError', code: 'CONFIG', field: 'retry.maxAttempts', isError: true,
    message: 'retry.maxAttempts must be between 1 and 10, got 0',
  });
});

test('fetch retries a 504, and an open breaker fails fast with a typed error', async () => {
  await fetch(`${faults.url}/__fault/set?session=fetch&route=metadata&mode=gateway-timeout&times=1`);
  const result = await inPage('fetch', `
    const r = api.createResilience({
      enabled: true,
      retry: { initialDelayMs: 10, maxDelayMs: 20 },
      persistence: { enabled: false },
      services: [{ name: 'plex', match: ['/api/v1/'], probeUrl: base + '/api/v1/proxy/plex/identity',
                   breaker: { failureThreshold: 3 } }],
    });
    const states = [];
    r.on('state', (e) => states.push(e.to));
    const first = (await r.fetch(base + '/api/v1/play/1')).status;
    r.isolate('plex');
    const error = await r.fetch(base + '/api/v1/play/1').catch((e) => ({ code: e.code, service: e.service }));
    r.dispose();
    return { first, error, states, enabled: r.enabled };`);
  assert.deepEqual(result, {
    first: 200, error: { code: 'BREAKER_OPEN', service: 'plex' }, states: ['isolated'], enabled: false,
  });
  const counts = await (await fetch(`${faults.url}/__fault/counts?session=fetch`)).json();
  assert.equal(counts.metadata, 2, 'one 504, one retry; nothing while isolated');
});

test('disabled, fetch is the browser fetch', async () => {
  await fetch(`${faults.url}/__fault/set?session=off&route=metadata&mode=unavailable`);
  const status = await inPage('off', `
    const r = api.createResilience({ enabled: false });
    return (await r.fetch(base + '/api/v1/play/1')).status;`);
  assert.equal(status, 503);
});
