// Tests for the fault server: run with `node --test www/`.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { inflateSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { startFaultServer } from './fault-server.mjs';
import { crc32 } from './png.mjs';

let server;
before(async () => {
  server = await startFaultServer({ port: 0 });
});
after(() => server.close());

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let sessionSeq = 0;
const newSession = () => `t${++sessionSeq}`;
const THUMB = '/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/7/indexes/sd/150000';

// One request on a fresh connection. Resolves { status, headers, body } when the
// response ends; { timedOut: true, ... } if it hasn't within waitMs (the request
// is then destroyed); rejects on a socket error.
function request(base, path, { method = 'GET', headers = {}, body, waitMs = 3000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, base), { method, headers, agent: false });
    let res = null;
    const chunks = [];
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ timedOut: true, status: res?.statusCode, headers: res?.headers, body: Buffer.concat(chunks) });
    }, waitMs);
    req.on('response', (r) => {
      res = r;
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => {
        clearTimeout(timer);
        resolve({ status: r.statusCode, headers: r.headers, body: Buffer.concat(chunks) });
      });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(body);
  });
}

const get = (path, opts) => request(server.url, path, opts);
const json = async (path, opts) => JSON.parse((await get(path, opts)).body);
const setFault = (session, route, mode, extra = '') => json(`/__fault/set?session=${session}&route=${route}&mode=${mode}${extra}`);

// PNG signature, IHDR size, every chunk's CRC, and the inflated data's length.
function checkPng(buf) {
  assert.deepEqual([...buf.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks = {};
  for (let at = 8; at < buf.length; ) {
    const len = buf.readUInt32BE(at);
    const type = buf.toString('ascii', at + 4, at + 8);
    assert.equal(buf.readUInt32BE(at + 8 + len), crc32(buf.subarray(at + 4, at + 8 + len)), `${type} CRC`);
    chunks[type] = buf.subarray(at + 8, at + 8 + len);
    at += 12 + len;
  }
  assert.ok(chunks.IHDR && chunks.IDAT && chunks.IEND);
  const width = chunks.IHDR.readUInt32BE(0);
  const height = chunks.IHDR.readUInt32BE(4);
  assert.equal(inflateSync(chunks.IDAT).length, height * (1 + width * 3));
  return { width, height };
}

// ---- routes --------------------------------------------------------------

test('video: whole body, ranges, 416, HEAD', async () => {
  const whole = await get('/api/v1/proxy/plex/stream/42');
  assert.equal(whole.status, 200);
  assert.equal(whole.headers['content-type'], 'video/webm');
  assert.equal(whole.headers['accept-ranges'], 'bytes');
  assert.equal(whole.body.length, 512 * 1024);
  assert.deepEqual((await get('/api/v1/proxy/plex/stream/42')).body, whole.body, 'deterministic');

  const part = await get('/api/v1/proxy/plex/stream/42', { headers: { Range: 'bytes=100-199' } });
  assert.equal(part.status, 206);
  assert.equal(part.headers['content-range'], `bytes 100-199/${whole.body.length}`);
  assert.deepEqual(part.body, whole.body.subarray(100, 200));

  const open = await get('/api/v1/proxy/plex/stream/42', { headers: { Range: 'bytes=524000-' } });
  assert.equal(open.status, 206);
  assert.equal(open.body.length, 288);

  const suffix = await get('/api/v1/proxy/plex/stream/42', { headers: { Range: 'bytes=-10' } });
  assert.equal(suffix.headers['content-range'], 'bytes 524278-524287/524288');
  assert.deepEqual(suffix.body, whole.body.subarray(-10));

  const beyond = await get('/api/v1/proxy/plex/stream/42', { headers: { Range: 'bytes=600000-' } });
  assert.equal(beyond.status, 416);
  assert.equal(beyond.headers['content-range'], 'bytes */524288');

  const head = await get('/api/v1/proxy/plex/stream/42', { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '524288');
  assert.equal(head.body.length, 0);

  assert.equal((await get('/api/v1/proxy/plex/stream/..%2Fsecret')).status, 404, 'ids are sanitised');
});

test('thumbnails and posters are valid PNGs of the asked size', async () => {
  const thumb = await get(THUMB);
  assert.equal(thumb.status, 200);
  assert.equal(thumb.headers['content-type'], 'image/png');
  assert.equal(thumb.headers['cache-control'], 'max-age=3600');
  assert.deepEqual(checkPng(thumb.body), { width: 240, height: 135 });

  const big = await get('/api/v1/proxy/plex/photo/:/transcode?width=5000&height=90&url=/library/parts/7/indexes/sd/0');
  assert.deepEqual(checkPng(big.body), { width: 640, height: 90 }, 'clamped to 640x360');
  assert.notDeepEqual(big.body, thumb.body);

  assert.equal((await get('/api/v1/proxy/plex/photo/:/transcode?url=/nope')).status, 400);

  const poster = await get('/api/v1/display/plex/55');
  assert.equal(poster.headers['content-type'], 'image/png');
  assert.deepEqual(checkPng(poster.body), { width: 320, height: 180 });
});

test('metadata, identity, transcode, 404', async () => {
  const meta = await json('/s/m1/api/v1/play/abc');
  assert.deepEqual(meta, {
    id: 'abc',
    title: 'Fault server video abc',
    durationMs: 600000,
    partId: 'abc',
    videoUrl: '/s/m1/api/v1/proxy/plex/stream/abc',
    posterUrl: '/s/m1/api/v1/display/plex/abc',
    thumbnailStepMs: 10000,
  });
  assert.equal((await json('/api/v1/play/abc')).videoUrl, '/api/v1/proxy/plex/stream/abc');

  assert.deepEqual(await json('/api/v1/proxy/plex/identity'), {
    MediaContainer: { machineIdentifier: 'fault-server', version: '1.0' },
  });

  const hls = await get('/api/v1/proxy/plex/video/:/transcode/universal/start.m3u8?path=x');
  assert.equal(hls.headers['content-type'], 'application/vnd.apple.mpegurl');
  assert.match(hls.body.toString(), /^#EXTM3U\n/);

  const missing = await get('/api/v1/nothing');
  assert.equal(missing.status, 404);
  assert.equal(missing.headers['content-type'], 'application/json');
  assert.equal(missing.headers['access-control-allow-origin'], '*');
});

// ---- CORS ----------------------------------------------------------------

test('CORS on every response; OPTIONS is 204 and neither counted nor faulted', async () => {
  const s = newSession();
  await setFault(s, 'all', 'hang');
  const pre = await get(`/s/${s}/api/v1/play/1`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://other', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'x-plex-token' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-headers'], '*, x-plex-token');
  assert.equal(pre.headers['access-control-allow-methods'], 'GET, HEAD, POST, OPTIONS');
  assert.equal(pre.headers['access-control-max-age'], '600');
  assert.equal((await json(`/__fault/counts?session=${s}`)).total, 0);

  await setFault(s, 'all', 'unavailable');
  for (const res of [await get(`/s/${s}/api/v1/play/1`), await get('/__fault/health'), await get('/__fault/set?route=x')]) {
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-headers'], '*');
    assert.equal(res.headers['access-control-expose-headers'], 'Retry-After, Content-Range, Accept-Ranges, Content-Length, X-Fault-Mode');
    assert.equal(res.headers['timing-allow-origin'], '*');
  }
});

// ---- fault modes ---------------------------------------------------------

test('hang: no answer, counted; reset and close() end it promptly', async () => {
  const s = newSession();
  await setFault(s, 'identity', 'hang');
  const res = await get(`/s/${s}/api/v1/proxy/plex/identity`, { waitMs: 300 });
  assert.equal(res.timedOut, true);
  assert.equal(res.status, undefined);
  assert.equal((await json(`/__fault/counts?session=${s}`)).identity, 1);
  assert.equal((await json(`/__fault/log?session=${s}`))[0].status, 'hang');

  const ended = assert.rejects(get(`/s/${s}/api/v1/proxy/plex/identity`, { waitMs: 5000 }), /socket hang up|ECONNRESET/);
  await sleep(50);
  await json(`/__fault/reset?session=${s}`);
  await ended;

  const own = await startFaultServer({ port: 0 });
  await request(own.url, '/__fault/set?mode=hang&route=all');
  const hung = assert.rejects(request(own.url, '/api/v1/play/1', { waitMs: 5000 }), /socket hang up|ECONNRESET/);
  await sleep(100);
  const t0 = performance.now();
  await own.close();
  assert.ok(performance.now() - t0 < 500, 'close() returns promptly');
  await hung;
});

test('slow-headers waits delayMs, then answers normally', async () => {
  const s = newSession();
  await setFault(s, 'metadata', 'slow-headers', '&delayMs=200');
  const t0 = performance.now();
  const res = await get(`/s/${s}/api/v1/play/9`);
  assert.ok(performance.now() - t0 >= 190);
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-fault-mode'], 'slow-headers');
  assert.equal(JSON.parse(res.body).id, '9');
});

test('slow-body sends headers and half the body, then stalls', async () => {
  const s = newSession();
  await setFault(s, 'video', 'slow-body');
  const res = await get(`/s/${s}/api/v1/proxy/plex/stream/1`, { waitMs: 300 });
  assert.equal(res.timedOut, true);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-length'], String(512 * 1024));
  assert.equal(res.headers['x-fault-mode'], 'slow-body');
  assert.equal(res.body.length, 256 * 1024);
});

test('gateway-timeout after delayMs; 502; 503', async () => {
  const s = newSession();
  await setFault(s, 'metadata', 'gateway-timeout', '&delayMs=150');
  const t0 = performance.now();
  const res = await get(`/s/${s}/api/v1/play/1`);
  assert.ok(performance.now() - t0 >= 140);
  assert.equal(res.status, 504);
  assert.equal(res.headers['x-fault-mode'], 'gateway-timeout');

  await setFault(s, 'metadata', 'bad-gateway');
  assert.equal((await get(`/s/${s}/api/v1/play/1`)).status, 502);
  await setFault(s, 'metadata', 'unavailable');
  const down = await get(`/s/${s}/api/v1/play/1`);
  assert.equal(down.status, 503);
  assert.equal(down.headers['retry-after'], undefined);
});

test('too-many and retry-after carry Retry-After (seconds or HTTP date)', async () => {
  const s = newSession();
  await setFault(s, 'thumbnail', 'too-many');
  const limited = await get(`/s/${s}${THUMB}`);
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['retry-after'], '1');

  const date = 'Wed, 21 Oct 2026 07:28:00 GMT';
  await setFault(s, 'thumbnail', 'retry-after', `&retryAfter=${encodeURIComponent(date)}`);
  const later = await get(`/s/${s}${THUMB}`);
  assert.equal(later.status, 503);
  assert.equal(later.headers['retry-after'], date);
  assert.equal(later.headers['x-fault-mode'], 'retry-after');
});

test('reset destroys the connection without a response', async () => {
  const s = newSession();
  await setFault(s, 'video', 'reset');
  await assert.rejects(get(`/s/${s}/api/v1/proxy/plex/stream/1`), /ECONNRESET|socket hang up/);
  assert.equal((await json(`/__fault/counts?session=${s}`)).video, 1);
  assert.equal((await json(`/__fault/log?session=${s}`))[0].status, 'reset');
});

test('empty: 200 with no body', async () => {
  const s = newSession();
  await setFault(s, 'metadata', 'empty');
  const res = await get(`/s/${s}/api/v1/play/1`);
  assert.equal(res.status, 200);
  assert.equal(res.headers['content-length'], '0');
  assert.equal(res.body.length, 0);
  assert.equal(res.headers['x-fault-mode'], 'empty');
});

test('flapping alternates fault and healthy every periodMs, fault first', async () => {
  const s = newSession();
  const t0 = performance.now();
  await setFault(s, 'identity', 'flapping', '&periodMs=200&flapMode=bad-gateway');
  const at = async (ms) => {
    await sleep(ms - (performance.now() - t0));
    return (await get(`/s/${s}/api/v1/proxy/plex/identity`)).status;
  };
  assert.deepEqual([await at(50), await at(300), await at(500), await at(700)], [502, 200, 502, 200]);
});

test('times=2: the next two requests fail, then the route is healthy again', async () => {
  const s = newSession();
  const state = await setFault(s, 'metadata', 'gateway-timeout', '&times=2');
  assert.deepEqual(state.routes.metadata, { mode: 'gateway-timeout', delayMs: 0, remaining: 2 });
  const statuses = [];
  for (let i = 0; i < 3; i++) statuses.push((await get(`/s/${s}/api/v1/play/1`)).status);
  assert.deepEqual(statuses, [504, 504, 200]);
  assert.equal((await json(`/__fault/state?session=${s}`)).routes.metadata.mode, 'healthy');
});

// ---- sessions, counts, control API, log ------------------------------------

test('sessions are isolated; un-prefixed requests are session "default"', async () => {
  const a = newSession();
  const b = newSession();
  await setFault(a, 'all', 'unavailable');
  assert.equal((await get(`/s/${a}/api/v1/play/1`)).status, 503);
  assert.equal((await get(`/s/${b}/api/v1/play/1`)).status, 200);
  assert.equal((await get(`/s/${b}/api/v1/play/1`)).status, 200);
  assert.equal((await json(`/__fault/counts?session=${a}`)).total, 1);
  assert.equal((await json(`/__fault/counts?session=${b}`)).metadata, 2);
  assert.equal((await json(`/__fault/state?session=${b}`)).routes.metadata.mode, 'healthy');

  await json('/__fault/reset?session=default');
  await get('/api/v1/proxy/plex/identity');
  assert.equal((await json('/__fault/counts')).identity, 1);
  assert.equal((await json('/__fault/counts?session=default')).total, 1);
});

test('counts per route, reset clears them', async () => {
  const s = newSession();
  const p = `/s/${s}`;
  await get(`${p}/api/v1/proxy/plex/stream/1`, { headers: { Range: 'bytes=0-1' } });
  await get(`${p}/api/v1/proxy/plex/video/:/transcode/universal/start.m3u8`);
  await get(`${p}${THUMB}`);
  await get(`${p}${THUMB}`);
  await get(`${p}/api/v1/display/plex/1`);
  await get(`${p}/api/v1/play/1`);
  await get(`${p}/api/v1/proxy/plex/identity`);
  await get(`${p}/api/v1/unknown`);
  assert.deepEqual(await json(`/__fault/counts?session=${s}`), {
    video: 1, transcode: 1, thumbnail: 2, poster: 1, metadata: 1, identity: 1, total: 7,
  });
  await json(`/__fault/reset?session=${s}`);
  assert.equal((await json(`/__fault/counts?session=${s}`)).total, 0);
  assert.deepEqual(await json(`/__fault/log?session=${s}`), []);
});

test('control API: 400 names the bad parameter; POST JSON body works', async () => {
  const cases = [
    ['/__fault/set?route=nope&mode=hang', 'route'],
    ['/__fault/set?mode=hang', 'route'],
    ['/__fault/set?route=video&mode=explode', 'mode'],
    ['/__fault/set?route=video&mode=slow-headers&delayMs=soon', 'delayMs'],
    ['/__fault/set?route=video&mode=flapping&flapMode=flapping', 'flapMode'],
    ['/__fault/set?route=video&mode=hang&times=0', 'times'],
    ['/__fault/set?route=video&mode=hang&session=a%20b', 'session'],
    ['/__fault/log?since=x', 'since'],
  ];
  for (const [path, parameter] of cases) {
    const res = await get(path);
    assert.equal(res.status, 400, path);
    assert.equal(JSON.parse(res.body).parameter, parameter, path);
  }
  assert.equal((await get('/__fault/nope')).status, 404);
  assert.deepEqual(await json('/__fault/health'), { ok: true });

  const s = newSession();
  const state = JSON.parse((await get('/__fault/set', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ session: s, route: 'poster', mode: 'too-many', retryAfter: '7' }),
  })).body);
  assert.deepEqual(state.routes.poster, { mode: 'too-many', retryAfter: '7' });
  assert.equal((await get(`/s/${s}/api/v1/display/plex/1`)).headers['retry-after'], '7');
  assert.equal(JSON.parse((await get('/__fault/set', { method: 'POST', body: '{' })).body).parameter, 'body');
});

test('log: entries with t, route, method, status, mode; since filters; tokens redacted', async () => {
  const s = newSession();
  await get(`/s/${s}/api/v1/play/1?X-Plex-Token=sekrit123`);
  await setFault(s, 'identity', 'unavailable');
  await get(`/s/${s}/api/v1/proxy/plex/identity?x-plex-token=sekrit123&a=1`);
  const log = await json(`/__fault/log?session=${s}`);
  assert.equal(log.length, 2);
  assert.deepEqual(
    log.map(({ route, method, status, mode }) => ({ route, method, status, mode })),
    [
      { route: 'metadata', method: 'GET', status: 200, mode: 'healthy' },
      { route: 'identity', method: 'GET', status: 503, mode: 'unavailable' },
    ],
  );
  assert.ok(log[1].t > log[0].t);
  assert.doesNotMatch(JSON.stringify(log), /sekrit/);
  assert.equal(log[1].path, `/s/${s}/api/v1/proxy/plex/identity?x-plex-token=REDACTED&a=1`);
  assert.deepEqual(await json(`/__fault/log?session=${s}&since=${log[0].t}`), [log[1]]);
});

// ---- command line ----------------------------------------------------------

test('CLI: --port 0 prints one line, serves, exits cleanly on SIGTERM', async () => {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./fault-server.mjs', import.meta.url)), '--port', '0']);
  let out = '';
  const url = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /^fault server listening on (http:\/\/127\.0\.0\.1:\d+)\n/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`exited early with ${code}`)));
  });
  assert.deepEqual(JSON.parse((await request(url, '/__fault/health')).body), { ok: true });
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  child.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null });
  assert.equal(out, `fault server listening on ${url}\n`);
});
