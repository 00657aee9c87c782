// The soak: the built package in headless Chromium through many requests (a
// metadata request, a thumbnail and a video range, over and over, 6 at a time)
// with a watched video, against the fault server, with an outage (every plex and
// api route answering 503, so the breakers open, fail fast and recover by their
// probes and trials) in every fourth batch. After each batch, with garbage collected: the
// wasm memory, the JS heap, the page's event listeners and DOM nodes (Chromium's
// counters), and the module's live timers and object URLs (counted by wrapping
// the page's setTimeout / setInterval and URL.createObjectURL).
//
//   npm run soak                      (REQUESTS=100000 BATCH=5000; set-up and build first)
//   import { soak } from './bench/soak.mjs'   (tests/soak/ runs a short one)
//
// Prints one row per batch and writes test-output/soak.json.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startFaultServer } from '../www/fault-server.mjs';
import { launchChromium, startSite } from '../tests/support.mjs';

const OUT = new URL('../test-output/', import.meta.url);
const OUTAGE_ROUTES = ['metadata', 'thumbnail', 'video', 'identity'];

/** Runs before the page's scripts: counts live timers and object URLs. */
function track() {
  const live = { timeouts: new Set(), intervals: new Set(), urls: new Set() };
  const { setTimeout: st, clearTimeout: ct, setInterval: si, clearInterval: ci } = window;
  window.setTimeout = (f, ...a) => {
    const id = st((...x) => {
      live.timeouts.delete(id);
      if (typeof f === 'function') f(...x);
    }, ...a);
    live.timeouts.add(id);
    return id;
  };
  window.clearTimeout = (id) => (live.timeouts.delete(id), ct(id));
  window.setInterval = (...a) => {
    const id = si(...a);
    live.intervals.add(id);
    return id;
  };
  window.clearInterval = (id) => (live.intervals.delete(id), ci(id));
  const { createObjectURL, revokeObjectURL } = URL;
  URL.createObjectURL = (blob) => {
    const url = createObjectURL(blob);
    live.urls.add(url);
    return url;
  };
  URL.revokeObjectURL = (url) => (live.urls.delete(url), revokeObjectURL(url));
  window.__live = live;
}

/** In the page: the instance, a watched video, and the request mix. */
async function start(base) {
  const api = await import('/pkg/index.js');
  const r = api.createResilience({
    enabled: true,
    persistence: { enabled: false },
    timeouts: { metadataMs: 2000, thumbnailMs: 2000, videoMs: 3000, slowMs: 1000 },
    retry: { initialDelayMs: 20, maxDelayMs: 50 },
    probe: { initialDelayMs: 200, maxDelayMs: 400, jitter: false },
    services: [
      { name: 'plex', match: ['/api/v1/proxy/plex/'], probeUrl: `${base}/api/v1/proxy/plex/identity`, breaker: { openMs: 500 } },
      { name: 'api', match: ['/api/v1/'] },
    ],
  });
  await r.ready;
  const glue = await (await import('/pkg/player_resilience.js')).default();
  const seen = { notices: 0, states: 0 };
  r.on('notice', () => seen.notices++);
  r.on('state', () => seen.states++);
  const box = document.createElement('div');
  box.style.cssText = 'position:relative;width:320px;height:180px';
  const video = document.createElement('video');
  video.muted = true; // the soak counts memory, not sound: no gesture needed to play
  video.loop = true;
  box.append(video);
  document.body.append(box);
  const started = performance.now();
  const handle = r.attachVideo(video, {
    media: { id: '7', src: `${base}/api/v1/proxy/plex/stream/7`, poster: `${base}/api/v1/display/plex/7` },
    thumbnailAt: (id, s) => `${base}/api/v1/proxy/plex/photo/:/transcode?url=/library/parts/${id}/indexes/sd/${s * 1000}`,
    sessionClock: () => (performance.now() - started) / 1000,
    overlay: box,
    cacheName: 'soak',
  });
  video.play().catch(() => {});
  const mix = [
    () => r.fetch(`${base}/api/v1/play/7`),
    () => r.fetch(`${base}/api/v1/proxy/plex/photo/:/transcode?url=/library/parts/7/indexes/sd/${1000 * Math.floor(Math.random() * 60)}`),
    () => r.fetch(`${base}/api/v1/proxy/plex/stream/gen-7`, { headers: { Range: 'bytes=0-4095' } }),
  ];
  let sent = 0;
  window.soak = {
    async batch(n) {
      const counts = {};
      const worker = async () => {
        while (n-- > 0) {
          let key;
          try {
            const response = await mix[sent++ % mix.length]();
            await response.arrayBuffer();
            key = String(response.status);
          } catch (e) {
            key = e.code ?? e.name;
          }
          counts[key] = (counts[key] ?? 0) + 1;
        }
      };
      await Promise.all(Array.from({ length: 6 }, worker));
      return counts;
    },
    // None open: plex closes by its probes; api (no probe URL) half-opens, and the batch's requests are its trials.
    closed: () => r.snapshot().services.every((s) => s.breaker.state !== 'open'),
    sample: () => ({
      wasmBytes: glue.memory.buffer.byteLength,
      timers: window.__live.timeouts.size + window.__live.intervals.size,
      objectUrls: window.__live.urls.size,
      video: handle.state,
      ...seen,
    }),
  };
}

/**
 * Runs `requests` requests in batches of `batch`, an outage in every fourth
 * batch; resolves with one sample per batch (and one before the first).
 */
export async function soak({ requests = 100_000, batch = 5_000, log = () => {} } = {}) {
  const faults = await startFaultServer({ port: 0 });
  const site = await startSite('<!doctype html><title>soak</title>', (path) => (path.startsWith('/pkg/') ? path : null));
  const browser = await launchChromium();
  try {
    const context = await browser.newContext();
    await context.addInitScript(track);
    const page = await context.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto(`http://127.0.0.1:${site.address().port}/`);
    const cdp = await context.newCDPSession(page);
    await cdp.send('HeapProfiler.enable');
    const session = `soak-${process.pid}`;
    const base = `${faults.url}/s/${session}`;
    const set = (route, mode) => fetch(`${faults.url}/__fault/set?session=${session}&route=${route}&mode=${mode}`);
    await page.evaluate(start, base);
    const sample = async (i, counts) => {
      await cdp.send('HeapProfiler.collectGarbage');
      const { usedSize } = await cdp.send('Runtime.getHeapUsage');
      const dom = await cdp.send('Memory.getDOMCounters');
      const page_ = await page.evaluate(() => window.soak.sample());
      return { batch: i, requests: i * batch, ...page_, jsHeapBytes: usedSize, listeners: dom.jsEventListeners, nodes: dom.nodes, counts };
    };
    const samples = [await sample(0, {})];
    log(samples[0]);
    const batches = Math.ceil(requests / batch);
    for (let i = 1; i <= batches; i++) {
      const outage = i % 4 === 2;
      for (const route of OUTAGE_ROUTES) await set(route, outage ? 'unavailable' : 'healthy');
      // After an outage, the breakers leave the open state first.
      if (i % 4 === 3) {
        await page.waitForFunction(() => window.soak.closed(), null, { timeout: 30_000, polling: 100 });
      }
      const counts = await page.evaluate((n) => window.soak.batch(n), Math.min(batch, requests - (i - 1) * batch));
      samples.push({ ...(await sample(i, counts)), outage });
      log(samples.at(-1));
    }
    return { samples, errors };
  } finally {
    await browser.close();
    site.close();
    await faults.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const requests = Number(process.env.REQUESTS ?? 100_000);
  const batch = Number(process.env.BATCH ?? 5_000);
  const began = Date.now();
  const kib = (n) => `${Math.round(n / 1024)} KiB`;
  console.log('| requests | outage | wasm memory | JS heap | listeners | DOM nodes | live timers | object URLs | video | outcomes |');
  console.log('|---:|---|---:|---:|---:|---:|---:|---:|---|---|');
  const { samples, errors } = await soak({
    requests,
    batch,
    log: (s) =>
      console.log(`| ${s.requests} | ${s.outage ? 'yes' : ''} | ${kib(s.wasmBytes)} | ${kib(s.jsHeapBytes)} | ${s.listeners} | ${s.nodes} | ${s.timers} | ${s.objectUrls} | ${s.video} | ${Object.entries(s.counts).map(([k, v]) => `${k}: ${v}`).join(', ')} |`),
  });
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(new URL('soak.json', OUT), JSON.stringify({ requests, batch, seconds: (Date.now() - began) / 1000, samples, errors }, null, 2) + '\n');
  console.log(`${requests} requests in ${Math.round((Date.now() - began) / 1000)} s; page errors: ${errors.length}`);
  if (errors.length) process.exitCode = 1;
}
