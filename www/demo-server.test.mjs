// Tests for the demo server (`node --test www/`): static files and the fault
// server on one origin. pkg/ is a temporary directory here, so these run before
// (and without) a build.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startDemoServer } from './demo-server.mjs';

let server;
let pkgDir;
before(async () => {
  pkgDir = fs.mkdtempSync(path.join(os.tmpdir(), 'demo-pkg-'));
  fs.writeFileSync(path.join(pkgDir, 'index.js'), 'export const x = 1;\n');
  fs.writeFileSync(path.join(pkgDir, 'player_resilience_bg.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));
  fs.writeFileSync(path.join(pkgDir, 'package.json'), '{}');
  server = await startDemoServer({ port: 0, pkgDir });
});
after(async () => {
  await server.close();
  fs.rmSync(pkgDir, { recursive: true, force: true });
});

// A raw request (no URL normalisation by a client library).
function get(rawPath, { method = 'GET', headers = {} } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, path: rawPath, method, headers, agent: false });
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('startDemoServer on port 0: url ends with a slash, 127.0.0.1', () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(server.url, `http://127.0.0.1:${server.port}/`);
});

test('/ is the page; /demo/* and /pkg/* are files with their MIME types', async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.match(page.body.toString(), /<video id="video" playsinline/);
  assert.deepEqual(page.body, fs.readFileSync(new URL('./demo/index.html', import.meta.url)));

  const cases = [
    ['/demo/demo.js', 'text/javascript; charset=utf-8'],
    ['/demo/demo.css', 'text/css; charset=utf-8'],
    ['/demo/index.html', 'text/html; charset=utf-8'],
    ['/pkg/index.js', 'text/javascript; charset=utf-8'],
    ['/pkg/player_resilience_bg.wasm', 'application/wasm'],
    ['/pkg/package.json', 'application/json'],
  ];
  for (const [p, type] of cases) {
    const res = await get(p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers['content-type'], type, p);
    assert.equal(res.headers['content-length'], String(res.body.length), p);
  }
  assert.deepEqual((await get('/pkg/player_resilience_bg.wasm')).body, Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]));

  const head = await get('/demo/demo.js', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.body.length, 0);
  assert.equal((await get('/demo/demo.js', { method: 'POST' })).status, 405);
});

test('/lib/* are the player libraries from node_modules, nothing else', async () => {
  for (const [p, file] of [
    ['/lib/shaka-player.compiled.js', 'shaka-player/dist/shaka-player.compiled.js'],
    ['/lib/hls.min.mjs', 'hls.js/dist/hls.min.mjs'],
    ['/lib/media-tracks/index.js', 'media-tracks/dist/index.js'],
  ]) {
    const res = await get(p);
    assert.equal(res.status, 200, p);
    assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8', p);
    assert.deepEqual(res.body, fs.readFileSync(new URL(`../node_modules/${file}`, import.meta.url)), p);
  }
  for (const p of ['/lib/', '/lib/package.json', '/lib/..%2Fpackage.json', '/lib/media-tracks/../../package.json', '/lib/media-tracks/%2e%2e%2findex.js']) {
    assert.equal((await get(p)).status, 404, p);
  }
});

test('no directory traversal, no directories, 404 otherwise', async () => {
  for (const p of [
    '/pkg/../www/fault-server.mjs',
    '/pkg/..%2F..%2Fetc%2Fpasswd',
    '/pkg/%2e%2e/%2e%2e/etc/passwd',
    '/demo/..%2Fdemo-server.mjs',
    '/demo/%2e%2e%2fmedia%2fworkout.webm',
    '/demo/%00index.html',
    '/demo/%E0%A4%A',
    '/demo/',
    '/pkg/',
    '/demo/nope.js',
    '/demo-server.mjs',
    '/media/workout.webm',
    '/index.html',
  ]) {
    const res = await get(p);
    assert.equal(res.status, 404, p);
    assert.doesNotMatch(res.body.toString(), /import|root:/, p);
  }
});

test('the fault server on the same origin: routes, sessions and control API', async () => {
  assert.deepEqual(JSON.parse((await get('/__fault/health')).body), { ok: true });
  const meta = await get('/s/demo-test/api/v1/play/101');
  assert.equal(meta.status, 200);
  assert.equal(JSON.parse(meta.body).videoUrl, '/s/demo-test/api/v1/proxy/plex/stream/101');

  await get('/__fault/set?session=demo-test&route=all&mode=unavailable');
  assert.equal((await get('/s/demo-test/api/v1/play/101')).status, 503);
  assert.equal(JSON.parse((await get('/__fault/counts?session=demo-test')).body).metadata, 2);

  const video = await get('/s/demo-test2/api/v1/proxy/plex/stream/101', { headers: { Range: 'bytes=0-99' } });
  assert.equal(video.status, 206);
  assert.equal(video.headers['content-type'], 'video/webm');
  assert.deepEqual(video.body, fs.readFileSync(new URL('./media/workout.webm', import.meta.url)).subarray(0, 100));
  assert.equal((await get('/api/v1/nothing')).status, 404);
});

test('close() ends hung requests promptly', async () => {
  const own = await startDemoServer({ port: 0, pkgDir });
  const req = http.get({ host: '127.0.0.1', port: own.port, path: '/__fault/set?route=all&mode=hang', agent: false });
  await new Promise((resolve) => req.on('response', (res) => res.resume().on('end', resolve)));
  const hung = new Promise((resolve) => {
    http.get({ host: '127.0.0.1', port: own.port, path: '/api/v1/play/1', agent: false }).on('error', resolve);
  });
  await new Promise((resolve) => setTimeout(resolve, 100));
  const t0 = performance.now();
  await own.close();
  assert.ok(performance.now() - t0 < 500);
  await hung;
});

test('CLI: --port 0 prints `demo: URL`, serves, exits cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./demo-server.mjs', import.meta.url)), '--port', '0']);
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^demo: (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
  });
  const res = await fetch(new URL('/__fault/health', url));
  assert.deepEqual(await res.json(), { ok: true });
  assert.equal((await fetch(url)).headers.get('content-type'), 'text/html; charset=utf-8');
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null });
  assert.equal(out, `demo: ${url}\n`);
});
