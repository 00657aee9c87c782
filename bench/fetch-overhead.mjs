// What the module costs a page: `r.fetch` against the browser's own `fetch` on a
// local 200 (interleaved, so all see the same machine at the same moments; also
// `r.fetch` of the same URL classed `video`, which does not wait for the body), and
// the module's start-up (the entry's import to `ready`), in headless Chromium on
// the built package.
//
//   npm run bench:fetch     (ROUNDS=2000 STARTS=20; set-up and build first)
//
// Prints the medians and writes test-output/fetch-overhead.json.
import fs from 'node:fs';
import { startFaultServer } from '../www/fault-server.mjs';
import { launchChromium, startSite } from '../tests/support.mjs';

const ROUNDS = Number(process.env.ROUNDS ?? 2_000);
const STARTS = Number(process.env.STARTS ?? 20);
const OUT = new URL('../test-output/', import.meta.url);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};

const faults = await startFaultServer({ port: 0 });
// Cross-origin isolated (COOP + COEP), so performance.now() counts in 5 µs steps
// rather than 100 µs: a 0.1 ms step would be 5 % of a local fetch.
const isolation = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
const site = await startSite('<!doctype html><title>overhead</title>', (path) => (path.startsWith('/pkg/') ? path : null), isolation);
const browser = await launchChromium();
try {
  const url = `http://127.0.0.1:${site.address().port}/`;
  // Start-up: a fresh page each time (the wasm compiled from the HTTP cache after the first).
  const starts = [];
  for (let i = 0; i < STARTS; i++) {
    const page = await browser.newPage();
    await page.goto(url);
    starts.push(await page.evaluate(async () => {
      const t0 = performance.now();
      const api = await import('/pkg/index.js');
      const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
      await r.ready;
      const ms = performance.now() - t0;
      r.dispose();
      return ms;
    }));
    await page.close();
  }
  const page = await browser.newPage();
  await page.goto(url);
  if (!(await page.evaluate(() => crossOriginIsolated))) throw new Error('the bench page is not cross-origin isolated');
  const base = `${faults.url}/s/overhead`;
  const times = await page.evaluate(async ([base, rounds]) => {
    const api = await import('/pkg/index.js');
    const config = { enabled: true, persistence: { enabled: false } };
    const r = api.createResilience(config);
    // The same URL classed `video`, whose body is the caller's to read: what the
    // light classes' whole-body read (within their deadline) costs.
    const streaming = api.createResilience({ ...config, classes: [{ class: 'video', match: ['/api/v1/play/'] }] });
    await Promise.all([r.ready, streaming.ready]);
    const target = `${base}/api/v1/play/7`;
    const contenders = { plain: (u) => fetch(u), module: (u) => r.fetch(u), streaming: (u) => streaming.fetch(u) };
    const time = async (get) => {
      const t0 = performance.now();
      const response = await get(target);
      await response.arrayBuffer();
      return performance.now() - t0;
    };
    const names = Object.keys(contenders);
    for (let i = 0; i < 100; i++) for (const n of names) await time(contenders[n]); // warm-up
    const times = Object.fromEntries(names.map((n) => [n, []]));
    for (let i = 0; i < rounds; i++) {
      // Interleaved, each in turn going first.
      for (let k = 0; k < names.length; k++) {
        const n = names[(i + k) % names.length];
        times[n].push(await time(contenders[n]));
      }
    }
    r.dispose();
    streaming.dispose();
    return times;
  }, [base, ROUNDS]);
  const result = {
    rounds: ROUNDS,
    fetchMedianMs: median(times.plain),
    moduleMedianMs: median(times.module),
    ratio: median(times.module) / median(times.plain),
    streamingMedianMs: median(times.streaming),
    streamingRatio: median(times.streaming) / median(times.plain),
    pairedRatioMedian: median(times.module.map((m, i) => m / times.plain[i])),
    startMedianMs: median(starts.slice(1)),
    firstStartMs: starts[0],
  };
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(new URL('fetch-overhead.json', OUT), JSON.stringify({ ...result, starts, times }, null, 2) + '\n');
  const f = (ms) => `${ms.toFixed(3)} ms`;
  console.log(`| | median |\n|---|---:|\n| fetch, local 200 | ${f(result.fetchMedianMs)} |\n| r.fetch, same | ${f(result.moduleMedianMs)} |\n| ratio of medians | ${result.ratio.toFixed(3)}× |\n| median of paired ratios | ${result.pairedRatioMedian.toFixed(3)}× |\n| r.fetch, same URL classed video (no whole-body read) | ${f(result.streamingMedianMs)} (${result.streamingRatio.toFixed(3)}×) |\n| start-up, import → ready (first page) | ${f(result.firstStartMs)} |\n| start-up, import → ready (later pages, median) | ${f(result.startMedianMs)} |`);
} finally {
  await browser.close();
  site.close();
  await faults.close();
}
