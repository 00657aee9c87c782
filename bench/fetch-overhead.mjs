// What the module costs a page: `r.fetch` against the browser's own `fetch` on a
// local 200 (interleaved, so both see the same machine at the same moments), and
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
const site = await startSite('<!doctype html><title>overhead</title>', (path) => (path.startsWith('/pkg/') ? path : null));
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
  const base = `${faults.url}/s/overhead`;
  const times = await page.evaluate(async ([base, rounds]) => {
    const api = await import('/pkg/index.js');
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    await r.ready;
    const target = `${base}/api/v1/play/7`;
    const time = async (get) => {
      const t0 = performance.now();
      const response = await get(target);
      await response.arrayBuffer();
      return performance.now() - t0;
    };
    for (let i = 0; i < 100; i++) await time((u) => r.fetch(u)), await time((u) => fetch(u)); // warm-up
    const plain = [];
    const module = [];
    for (let i = 0; i < rounds; i++) {
      // Interleaved, alternating which goes first.
      if (i % 2) {
        plain.push(await time((u) => fetch(u)));
        module.push(await time((u) => r.fetch(u)));
      } else {
        module.push(await time((u) => r.fetch(u)));
        plain.push(await time((u) => fetch(u)));
      }
    }
    r.dispose();
    return { plain, module };
  }, [base, ROUNDS]);
  const result = {
    rounds: ROUNDS,
    fetchMedianMs: median(times.plain),
    moduleMedianMs: median(times.module),
    ratio: median(times.module) / median(times.plain),
    pairedRatioMedian: median(times.module.map((m, i) => m / times.plain[i])),
    startMedianMs: median(starts.slice(1)),
    firstStartMs: starts[0],
  };
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(new URL('fetch-overhead.json', OUT), JSON.stringify({ ...result, starts, times }, null, 2) + '\n');
  const f = (ms) => `${ms.toFixed(3)} ms`;
  console.log(`| | median |\n|---|---:|\n| fetch, local 200 | ${f(result.fetchMedianMs)} |\n| r.fetch, same | ${f(result.moduleMedianMs)} |\n| ratio of medians | ${result.ratio.toFixed(3)}× |\n| median of paired ratios | ${result.pairedRatioMedian.toFixed(3)}× |\n| start-up, import → ready (first page) | ${f(result.firstStartMs)} |\n| start-up, import → ready (later pages, median) | ${f(result.startMedianMs)} |`);
} finally {
  await browser.close();
  site.close();
  await faults.close();
}
