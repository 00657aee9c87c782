// The incident as a person lives it, with the demo's default config: for each
// player of PLAYERS (the demo's `?player=`), RUNS pages at once (each its own
// browser context and fault session, so its own prober), each playing the clip
// with sound from a click; the server hangs, answers 504s once the breaker is
// open, and is healthy again OUTAGE_MS after the hang, plus i/RUNS of a probe
// period (16.5 s, the mean gap) for run i: the runs start together, so with one
// outage length they would all meet the probes at the same phase; staggered, the
// server comes back at evenly spread moments between two probes, as it would at a
// random moment. Prints each figure's median and range per player, and writes
// every run to test-output/default-incident-runs.json.
//
//   npm run bench:incident    (PLAYERS=shaka,progressive RUNS=5 OUTAGE_MS=120000; set-up and build first)
//
// Runs share the machine's cores; a run's figures are its page's and its server
// session's own.
import fs from 'node:fs';
import { startDemoServer } from '../www/demo-server.mjs';
import { launchChromium } from '../tests/support.mjs';
import { incident, incidentTimings, until, videoState } from '../tests/e2e/page.mjs';

const PLAYERS = (process.env.PLAYERS ?? 'shaka,progressive').split(',');
const RUNS = Number(process.env.RUNS ?? 5);
const OUTAGE_MS = Number(process.env.OUTAGE_MS ?? 120_000);
const OUT = new URL('../test-output/', import.meta.url);
const PROBE_PERIOD_MS = 16_500;

const server = await startDemoServer({ port: 0 });
const browser = await launchChromium();

async function run(player, i) {
  const session = `bench-${process.pid}-${player}-${i}`;
  const control = (action, params = {}) =>
    fetch(`${server.url}__fault/${action}?${new URLSearchParams({ session, ...params })}`).then((r) => r.json());
  await control('reset');
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  try {
    const page = await context.newPage();
    await page.goto(`${server.url}?session=${session}&player=${player}`);
    await page.waitForFunction(() => window.demo?.video, null, { timeout: 10_000 });
    await page.click('#start');
    await until('the video to play', async () => (await videoState(page)).t >= 3, 30_000);
    await until('thumbnails cached ahead', async () => (await control('counts')).thumbnail >= 6, 30_000);
    const outageMs = OUTAGE_MS + Math.round((i * PROBE_PERIOD_MS) / RUNS);
    return { 'outage (ms)': outageMs, ...incidentTimings(await incident(page, control, { outageMs })) };
  } finally {
    await context.close();
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

try {
  const results = {};
  for (const player of PLAYERS) {
    console.log(`\n[bench] ${player}: ${RUNS} runs at once, the default config, healthy again ${OUTAGE_MS / 1000} s (+ up to ${PROBE_PERIOD_MS / 1000} s, staggered) after the hang`);
    const runs = await Promise.all(Array.from({ length: RUNS }, (_, i) => run(player, i)));
    results[player] = runs;
    console.log('| figure (ms) | median | range |\n|---|---:|---:|');
    for (const key of Object.keys(runs[0])) {
      const values = runs.map((r) => r[key]).filter((v) => typeof v === 'number');
      if (values.length) console.log(`| ${key} | ${median(values)} | ${Math.min(...values)}–${Math.max(...values)} |`);
    }
    console.log(`first notices: ${runs.map((r) => r['first notice']).join(', ')}`);
  }
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(new URL('default-incident-runs.json', OUT), JSON.stringify({ outageMs: OUTAGE_MS, results }, null, 2) + '\n');
} finally {
  await browser.close();
  await server.close();
}
