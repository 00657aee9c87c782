// The incident, side by side, in one run: the same player request mix (driver.js:
// metadata and a thumbnail every 2 s, a video range request every 4 s) in one
// headless Chromium page per contender, all at once, each page on its own origin
// (its own connection pool) in its own browser context, against its own fault
// session, through:
//   package    this package, default config: createResilience({ enabled: true })
//   cockatiel  cockatiel 4: wrap(retry, circuitBreaker, timeout) with its README's values
//   opossum    opossum 10, defaults, its browser build; no retry (its docs suggest none)
//   ky         ky 2, defaults (retry limit 2, 0.3 s × 2^n, Retry-After)
//   naive      the user's documents: 429/5xx retried 20 times at a flat 500 ms, 60 s timeout, no breaker
// (contenders/*.js say each one's configuration exactly).
//
// Scenario (the server's time compressed, the clients' not): healthy HEALTHY_MS
// (10 s); then every request hangs and answers 504 after PROXY_TIMEOUT_MS (5 s,
// the proxy's 60 s timeout compressed 12×) for OUTAGE_MS (60 s); then healthy for
// AFTER_MS (30 s). Each origin maps `/api/…` to its fault session, so the
// package's default relative probe URL (/api/v1/proxy/plex/identity) reaches it.
//
// Measured per contender, at the server (the fault server's log) and in the page:
// requests that reached the server during the outage (probes apart), peak
// requests per second (1 s bins, probes included) during the outage and in the
// first 10 s after recovery, the fetches the page started during the outage (its
// attempts, whether or not the browser's 6 connections per origin let them out),
// the time from the outage start to the first error or notice the app sees, from recovery to the first success and to 95 % of calls
// succeeding (the first successful call after recovery from whose start on ≥ 95 %
// of the calls issued in the next 10 s succeed), the calls that failed and those
// that failed without any request reaching the server (failed fast), and the
// longest call (how long the app waited for one answer). Prints a Markdown table
// and writes every call, event and server request to test-output/outage.json.
//
//   npm run bench    (set-up and build first; or `node bench/outage/run.mjs` after `npm run build`)
//   env: CONTENDERS=package,cockatiel,opossum,ky,naive HEALTHY_MS OUTAGE_MS AFTER_MS PROXY_TIMEOUT_MS
//        PACKAGE_CONFIG='{"probe":{"initialDelayMs":5000}}' (overrides for the package; default none)
//
// Exits non-zero when anything goes wrong (a page error, a contender that never
// ran, calls failing while the server was healthy before the outage).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { createFaultHandler } from '../../www/fault-server.mjs';
import { launchChromium } from '../../tests/support.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const OUT = path.join(ROOT, 'test-output');
const ALL = ['package', 'cockatiel', 'opossum', 'ky', 'naive'];
const LABELS = {
  package: 'player-resilience (default config)',
  cockatiel: 'cockatiel 4 (README values)',
  opossum: 'opossum 10 (defaults, no retry)',
  ky: 'ky 2 (defaults)',
  naive: 'naive (20 × 500 ms, 60 s, no breaker)',
};
const env = (name, fallback) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number of ms, got ${process.env[name]}`);
  return value;
};
const CONTENDERS = (process.env.CONTENDERS ?? ALL.join(',')).split(',');
const HEALTHY_MS = env('HEALTHY_MS', 10_000);
const OUTAGE_MS = env('OUTAGE_MS', 60_000);
const AFTER_MS = env('AFTER_MS', 30_000);
const PROXY_TIMEOUT_MS = env('PROXY_TIMEOUT_MS', 5_000);
// The package's config: its default unless PACKAGE_CONFIG (JSON, merged over
// { enabled: true }) says otherwise, to see what an override changes.
const PACKAGE_CONFIG = { enabled: true, ...JSON.parse(process.env.PACKAGE_CONFIG ?? '{}') };
if (process.env.PACKAGE_CONFIG) LABELS.package = `player-resilience (${process.env.PACKAGE_CONFIG})`;
const WINDOW_MS = 10_000; // the 95 % window, and "the first 10 s after recovery"
const DRAIN_MS = 10_000; // after the mix stops: how long calls in flight may take to finish
for (const name of CONTENDERS) if (!ALL.includes(name)) throw new Error(`unknown contender '${name}' (one of ${ALL.join(', ')})`);

const sleepUntil = (wall) => new Promise((resolve) => setTimeout(resolve, Math.max(0, wall - Date.now())));
const MIME = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

/** The page's script: driver + contender, bundled; the package itself is imported from /pkg/. */
async function bundle(name) {
  const result = await build({
    entryPoints: [fileURLToPath(new URL(`./contenders/${name}.js`, import.meta.url))],
    bundle: true, format: 'esm', platform: 'browser', write: false, logLevel: 'warning',
    external: ['/pkg/index.js'],
  });
  return result.outputFiles[0].contents;
}

/** An origin for one contender: its page, its script, pkg/, opossum's browser build, and `/api/…` → its fault session. */
function startOrigin(faults, session, script, name) {
  // Every fetch() the page makes (the contender's attempts and probes, queued in the
  // browser or not), counted before any script of the page runs.
  const count = '<script>window.__fetches=[];const f=window.fetch;window.fetch=function(input,init){window.__fetches.push(Date.now());return f.apply(this,arguments)};</script>';
  const head = count
    + (name === 'opossum' ? '<script src="/lib/opossum.min.js"></script>' : '')
    + (name === 'package' ? `<script>window.__packageConfig=${JSON.stringify(PACKAGE_CONFIG).replace(/</g, '\\u003c')};</script>` : '');
  const page = `<!doctype html><meta charset="utf-8"><title>outage: ${name}</title>${head}<script type="module" src="/bench.js"></script>`;
  const serveFile = (res, file) =>
    fs.promises.readFile(file).then(
      (body) => res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream' }).end(body),
      () => res.writeHead(404).end(),
    );
  const server = http.createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    if (pathname === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    if (pathname === '/bench.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(script);
    if (pathname === '/lib/opossum.min.js') return serveFile(res, path.join(ROOT, 'node_modules/opossum/dist/opossum.min.js'));
    if (/^\/pkg\/[\w.-]+$/.test(pathname)) return serveFile(res, path.join(ROOT, pathname));
    if (pathname.startsWith('/api/')) {
      req.url = `/s/${session}${req.url}`;
      return faults.handle(req, res);
    }
    if (pathname.startsWith('/__fault/')) return faults.handle(req, res);
    res.writeHead(404).end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

// ---- figures ---------------------------------------------------------------

const round = (ms) => (ms === null ? null : Math.round(ms) / 1000);
const callOf = (entry) => Number(/[?&]c=(\d+)/.exec(entry.path)?.[1] ?? NaN);

function peakPerSecond(times, from, to) {
  const bins = new Array(Math.ceil((to - from) / 1000)).fill(0);
  for (const t of times) if (t >= from && t < to) bins[Math.floor((t - from) / 1000)]++;
  return Math.max(0, ...bins);
}

function figures({ calls, events, fetches }, requests, O, R) {
  const inOutage = (t) => t >= O && t < R;
  const probes = requests.filter((e) => e.route === 'identity');
  const perCall = new Map();
  for (const e of requests) if (Number.isFinite(e.call)) perCall.set(e.call, (perCall.get(e.call) ?? 0) + 1);
  const done = calls.filter((c) => c.end !== null);
  const failed = done.filter((c) => !c.ok);

  const firstAfter = (xs, from) => xs.filter((t) => t >= from).reduce((a, t) => Math.min(a, t), Infinity);
  const firstNotice = firstAfter(events.filter((e) => e.type === 'notice').map((e) => e.t), O);
  const firstError = firstAfter(failed.map((c) => c.end), O);
  const firstTrouble = Math.min(firstNotice, firstError);
  const firstSuccess = firstAfter(done.filter((c) => c.ok).map((c) => c.end), R);

  // 95 %: the first successful call ending after recovery from whose start on ≥ 95 %
  // of the calls issued within WINDOW_MS succeed (calls still out count as failed).
  const byStart = [...calls].sort((a, b) => a.start - b.start);
  let t95 = Infinity;
  for (const c of byStart) {
    if (!c.ok || c.end < R) continue;
    const window = byStart.filter((d) => d.start >= c.start && d.start < c.start + WINDOW_MS);
    if (window.filter((d) => d.ok).length >= 0.95 * window.length) {
      t95 = c.end;
      break;
    }
  }
  const ms = (t, from) => (Number.isFinite(t) ? t - from : null);
  const errorKinds = {};
  for (const c of failed) errorKinds[c.error] = (errorKinds[c.error] ?? 0) + 1;
  const outageCalls = calls.filter((c) => inOutage(c.start));
  return {
    outageRequests: requests.filter((e) => inOutage(e.wall) && e.route !== 'identity').length,
    outageProbes: probes.filter((e) => inOutage(e.wall)).length,
    outageFetches: fetches.filter(inOutage).length,
    peakOutage: peakPerSecond(requests.map((e) => e.wall), O, R),
    peakAfter: peakPerSecond(requests.map((e) => e.wall), R, R + WINDOW_MS),
    requestsFirst10sAfter: requests.filter((e) => e.wall >= R && e.wall < R + WINDOW_MS).length,
    firstTroubleMs: ms(firstTrouble, O),
    firstNoticeMs: ms(firstNotice, O),
    firstErrorMs: ms(firstError, O),
    firstSuccessMs: ms(firstSuccess, R),
    t95Ms: ms(t95, R),
    failedFast: failed.filter((c) => !perCall.has(c.n)).length,
    failedFastByType: failed.filter((c) => c.fastFail).length,
    calls: calls.length,
    callsFailed: failed.length,
    callsPending: calls.length - done.length,
    outageCalls: outageCalls.length,
    outageCallsFailed: outageCalls.filter((c) => !c.ok).length,
    requestsTotal: requests.length,
    probesTotal: probes.length,
    maxRequestsPerCall: Math.max(0, ...perCall.values()),
    longestCallMs: Math.max(0, ...done.map((c) => c.end - c.start)),
    errorKinds,
  };
}

function healthyPhaseProblems(name, { calls }, requests, O) {
  const early = calls.filter((c) => c.start < O - PROXY_TIMEOUT_MS);
  const problems = [];
  if (early.length === 0) problems.push(`${name}: no calls before the outage`);
  for (const c of early) if (!c.ok) problems.push(`${name}: call ${c.n} (${c.kind}) failed while the server was healthy: ${c.error}`);
  const counted = new Map();
  for (const e of requests) if (Number.isFinite(e.call)) counted.set(e.call, (counted.get(e.call) ?? 0) + 1);
  for (const c of early) {
    if (c.ok && counted.get(c.n) !== 1) problems.push(`${name}: call ${c.n} reached the server ${counted.get(c.n) ?? 0} times while healthy`);
  }
  return problems;
}

const fmt = (ms) => (ms === null ? 'never' : `${(ms / 1000).toFixed(1)} s`);

function table(results) {
  const rows = [
    '| | requests at the server during the outage (+ probes) | fetches the page started in the outage | peak req/s, outage | peak req/s, first 10 s after | outage start → first error or notice | recovery → first success | recovery → 95 % succeed | calls failed (failed fast) | longest call |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [name, f] of Object.entries(results)) {
    const trouble = f.firstNoticeMs !== null && f.firstNoticeMs === f.firstTroubleMs ? `${fmt(f.firstTroubleMs)} (notice)` : fmt(f.firstTroubleMs);
    rows.push(`| ${LABELS[name]} | ${f.outageRequests}${f.outageProbes ? ` (+ ${f.outageProbes})` : ''} | ${f.outageFetches} | ${f.peakOutage} | ${f.peakAfter} | ${trouble} | ${fmt(f.firstSuccessMs)} | ${fmt(f.t95Ms)} | ${f.callsFailed} (${f.failedFast}) of ${f.calls} | ${fmt(f.longestCallMs)} |`);
  }
  return rows.join('\n');
}

// ---- the run ---------------------------------------------------------------

const startedAt = Date.now();
const faults = createFaultHandler();
const origins = [];
let browser;
const problems = [];
try {
  if (CONTENDERS.includes('package') && !fs.existsSync(path.join(ROOT, 'pkg/index.js'))) {
    throw new Error('pkg/ is not built: run `npm run build` (or `npm run bench`, which builds)');
  }
  const tag = `outage-${process.pid}-${Date.now() % 1e6}`;
  const contenders = await Promise.all(CONTENDERS.map(async (name) => {
    const session = `${tag}-${name}`;
    const server = await startOrigin(faults, session, await bundle(name), name);
    origins.push(server);
    return { name, session, url: `http://127.0.0.1:${server.address().port}`, log: [], since: -1 };
  }));
  const control = (c, action, params = {}) =>
    fetch(`${c.url}/__fault/${action}?${new URLSearchParams({ session: c.session, ...params })}`).then(async (r) => {
      if (!r.ok) throw new Error(`fault control ${action} for ${c.name}: ${r.status} ${await r.text()}`);
      return r.json();
    });

  browser = await launchChromium();
  browser.on('disconnected', () => problems.push(`the browser went away at ${new Date().toISOString()}`));
  for (const c of contenders) {
    await control(c, 'reset');
    c.context = await browser.newContext();
    c.page = await c.context.newPage();
    c.pageErrors = [];
    c.page.on('pageerror', (e) => c.pageErrors.push(String(e?.stack ?? e)));
    c.page.on('crash', () => c.pageErrors.push(`the page crashed at ${new Date().toISOString()}`));
    await c.page.goto(`${c.url}/`);
    await c.page.waitForFunction(() => window.bench, null, { timeout: 15_000 });
    await c.page.evaluate(() => window.bench.ready);
  }

  // The server's log, polled (it keeps the last 500 requests per session).
  const pollLogs = () => Promise.all(contenders.map(async (c) => {
    const entries = await control(c, 'log', { since: String(c.since) });
    for (const e of entries) {
      c.log.push(e);
      c.since = Math.max(c.since, e.t);
    }
  }));
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await pollLogs();
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  })().catch((err) => problems.push(`polling the server's log: ${err}`));

  // All five at once: the mix starts at T0, the outage at O, recovery at R.
  const setAll = async (params) => {
    const before = Date.now();
    const states = await Promise.all(contenders.map((c) => control(c, 'set', { route: 'all', ...params })));
    const after = Date.now();
    // Server log times (ms since the handler started) → wall clock, from this exchange.
    for (const [i, c] of contenders.entries()) c.offset ??= (before + after) / 2 - states[i].t;
    return before;
  };
  const T0 = Date.now() + 1000;
  await Promise.all(contenders.map((c) => c.page.evaluate((at) => window.bench.start(at), T0)));
  console.log(`[bench] ${contenders.length} contenders at once: healthy ${HEALTHY_MS / 1000} s, outage ${OUTAGE_MS / 1000} s (every request hangs, 504 after ${PROXY_TIMEOUT_MS / 1000} s), healthy ${AFTER_MS / 1000} s`);
  await sleepUntil(T0 + HEALTHY_MS);
  const O = await setAll({ mode: 'gateway-timeout', delayMs: String(PROXY_TIMEOUT_MS) });
  console.log(`[bench] outage at +${((O - T0) / 1000).toFixed(1)} s`);
  await sleepUntil(O + OUTAGE_MS);
  const R = await setAll({ mode: 'healthy' });
  console.log(`[bench] recovery at +${((R - T0) / 1000).toFixed(1)} s`);
  await sleepUntil(R + AFTER_MS);
  await Promise.all(contenders.map((c) => c.page.evaluate(() => window.bench.stop())));
  const drainUntil = Date.now() + DRAIN_MS;
  for (const c of contenders) {
    while (Date.now() < drainUntil && (await c.page.evaluate(() => window.bench.pending())) > 0) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
  polling = false;
  await poller;
  await pollLogs();

  const results = {};
  const raw = {};
  for (const c of contenders) {
    const rec = await c.page.evaluate(() => ({ ...window.bench.rec, fetches: window.__fetches }));
    const requests = c.log.map((e) => ({ ...e, wall: e.t + c.offset, call: callOf(e) }));
    const counts = await control(c, 'counts');
    if (counts.total !== requests.length) problems.push(`${c.name}: the server counted ${counts.total} requests, its log has ${requests.length}`);
    problems.push(...c.pageErrors.map((e) => `${c.name}: page error: ${e}`));
    problems.push(...healthyPhaseProblems(c.name, rec, requests, O));
    results[c.name] = figures(rec, requests, O, R);
    raw[c.name] = {
      events: rec.events.map((e) => ({ ...e, t: e.t - O })),
      calls: rec.calls.map((k) => ({ ...k, start: k.start - O, end: k.end === null ? null : k.end - O })),
      fetches: rec.fetches.map((t) => t - O),
      requests: requests.map(({ wall, t, ...e }) => ({ ...e, t: Math.round(wall - O) })),
    };
  }

  console.log(`\n${table(results)}\n`);
  console.log(`(times in the page's calls and the server's log; outage ${OUTAGE_MS / 1000} s, proxy timeout ${PROXY_TIMEOUT_MS / 1000} s; run took ${Math.round((Date.now() - startedAt) / 1000)} s)`);
  for (const [name, f] of Object.entries(results)) {
    console.log(`  ${name}: ${f.calls} calls, ${f.callsFailed} failed, ${f.callsPending} still out; errors ${JSON.stringify(f.errorKinds)}; ${f.requestsTotal} requests (${f.probesTotal} probes), at most ${f.maxRequestsPerCall} for one call`);
  }
  for (const [name, r] of Object.entries(raw)) {
    const states = r.events.filter((e) => e.type === 'state').map((e) => `${e.service}→${e.to}@${(e.t / 1000).toFixed(1)}`);
    if (states.length) console.log(`  ${name} breakers (s from the outage start): ${states.join(' ')}`);
  }
  fs.mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, 'outage.json');
  fs.writeFileSync(file, JSON.stringify({
    scenario: { healthyMs: HEALTHY_MS, outageMs: OUTAGE_MS, afterMs: AFTER_MS, proxyTimeoutMs: PROXY_TIMEOUT_MS, packageConfig: PACKAGE_CONFIG, at: new Date(startedAt).toISOString(), runMs: Date.now() - startedAt },
    note: 'times in ms; figures from the outage start (firstTrouble…) or from recovery (firstSuccess, t95); raw times from the outage start',
    results, problems, raw,
  }, null, 2) + '\n');
  console.log(`[bench] wrote ${path.relative(ROOT, file)}`);
  if (problems.length) {
    console.error(`[bench] ${problems.length} problem(s):\n  ${problems.slice(0, 30).join('\n  ')}`);
    process.exitCode = 1;
  }
} catch (err) {
  console.error('[bench] failed:', err);
  if (problems.length) console.error(`[bench] before that:\n  ${problems.join('\n  ')}`);
  process.exitCode = 1;
} finally {
  await browser?.close();
  faults.close();
  for (const server of origins) {
    server.closeAllConnections();
    server.close();
  }
}
