// A smoke test of the demo in headless Chromium (Debian's, through playwright-core):
// the page starts, the video plays, every fault button switches the server, a hang
// stalls the video within 15 s (the server paces the clip), and screenshots land
// in test-output/.
// Needs a built pkg/ (`npm run build`). Takes about a minute.
//
//   node www/demo/smoke.mjs [--session NAME] [--headed]

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startDemoServer } from '../demo-server.mjs';

const OUT = fileURLToPath(new URL('../../test-output/', import.meta.url));
const args = process.argv.slice(2);
const session = args.includes('--session') ? args[args.indexOf('--session') + 1] : `smoke-${process.pid}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const step = (text) => console.log(`[smoke] ${text}`);

fs.mkdirSync(OUT, { recursive: true });
const server = await startDemoServer({ port: 0 });
const browser = await chromium.launch({
  executablePath: execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim(),
  headless: !args.includes('--headed'),
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-quic'],
});
const failures = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  page.on('pageerror', (err) => failures.push(`page error: ${err.message}`));
  page.on('console', (m) => m.type() === 'error' && console.log(`[page] ${m.text()}`));
  await page.goto(`${server.url}?session=${session}`);
  await page.waitForFunction(() => window.demo, null, { timeout: 10_000 });
  const control = async (endpoint) => (await fetch(`${server.url}__fault/${endpoint}?session=${session}`)).json();
  const currentTime = () => page.evaluate(() => document.getElementById('video').currentTime);
  const features = await page.evaluate(() => ({ attachVideo: typeof window.demo.r?.attachVideo === 'function', state: window.demo.video.state }));
  step(`page up; attachVideo ${features.attachVideo ? 'present' : 'missing'}; video state ${features.state}`);

  // The workout starts from the button (a gesture: sound on); the video plays, the clock runs.
  await page.click('#start');
  await page.waitForFunction(() => document.getElementById('video').currentTime > 1, null, { timeout: 15_000 });
  const t1 = await currentTime();
  await sleep(1500);
  assert.ok((await currentTime()) > t1, 'currentTime advances');
  assert.match(await page.textContent('#clock'), /^00:0\d$/);
  step(`video plays (currentTime ${(await currentTime()).toFixed(1)} s)`);

  // Every fault button switches every route of the session.
  const expected = [['hang', 'hang'], ['504', 'gateway-timeout'], ['down', 'reset'], ['slow', 'slow-headers'],
    ['flapping', 'flapping'], ['retry-after', 'retry-after'], ['healthy', 'healthy']];
  for (const [fault, mode] of expected) {
    await page.click(`#fault-${fault}`);
    await page.waitForFunction((f) => document.getElementById(`fault-${f}`).classList.contains('active'), fault);
    const state = await control('state');
    assert.deepEqual(new Set(Object.values(state.routes).map((r) => r.mode)), new Set([mode]), fault);
    step(`button ${fault} -> server mode ${mode}`);
  }

  // A hang stalls the video within 15 s: the server paces the clip.
  await page.evaluate(() => window.demo.switchMedia('102'));
  await page.waitForFunction(() => document.getElementById('video').currentTime > 3, null, { timeout: 15_000 });
  await page.screenshot({ path: `${OUT}demo-playing.png` });
  await page.click('#fault-hang');
  const hungAt = Date.now();
  let last = await currentTime();
  let stalledFor = 0;
  while (stalledFor < 2000 && Date.now() - hungAt < 25_000) {
    await sleep(250);
    const now = await currentTime();
    stalledFor = now === last ? stalledFor + 250 : 0;
    last = now;
  }
  const stallSeconds = (Date.now() - hungAt - stalledFor) / 1000;
  assert.ok(stalledFor >= 2000, 'the video stalls under a hang');
  assert.ok(stallSeconds <= 15, `stalled after ${stallSeconds} s`);
  step(`hang: video stalled ${stallSeconds.toFixed(1)} s after the fault, at ${last.toFixed(1)} s`);
  await sleep(15_000); // let the breakers open and the notices show
  await page.screenshot({ path: `${OUT}demo-hang.png` });
  const summary = await page.evaluate(() => ({
    clock: window.demo.clock(),
    events: window.demo.events.map((e) => e.name).reduce((m, n) => ({ ...m, [n]: (m[n] ?? 0) + 1 }), {}),
    state: window.demo.video.state,
  }));
  assert.ok(summary.clock > 20, 'the clock keeps running');
  step(`after the hang: video ${summary.state}, events ${JSON.stringify(summary.events)}`);

  await page.click('#fault-healthy');
  await sleep(3000);
  await page.screenshot({ path: `${OUT}demo.png` });
  step(`screenshots in ${OUT}`);
} catch (err) {
  failures.push(err.stack ?? String(err));
} finally {
  await browser.close();
  await server.close();
}
if (failures.length) {
  console.error(failures.join('\n'));
  process.exit(1);
}
console.log('[smoke] ok');
