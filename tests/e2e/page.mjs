// The demo page seen from outside, for the end-to-end tests and the default-config
// incident measurement (bench/default-incident.mjs): the demo opened with the
// tests' config, polls with deadlines, the page's state and events, and the
// incident driven as a person lives it.

import assert from 'node:assert/strict';
import { before, after } from 'node:test';
import { startDemoServer } from '../../www/demo-server.mjs';
import { launchChromium } from '../support.mjs';

// Fast enough for tests, same policy shape as the defaults: probes every 0.5-1 s,
// a breaker that rests 1-4 s after a failed trial, a thumbnail every 2 s.
export const config = (session) => ({
  probe: { initialDelayMs: 500, maxDelayMs: 1000, successThreshold: 1, jitter: false },
  playback: { thumbnailStepMs: 2000 },
  persistence: { enabled: false },
  services: [
    {
      name: 'plex',
      match: ['/api/v1/proxy/plex/', '/api/v1/display/plex/'],
      probeUrl: `/s/${session}/api/v1/proxy/plex/identity`,
      breaker: { failureThreshold: 3, openMs: 1000, maxOpenMs: 4000, successThreshold: 2 },
    },
    { name: 'api', match: ['/api/v1/'] },
  ],
});

let sessions = 0;

/**
 * For a test file: the demo server and Chromium started before its tests and
 * closed after them. Returns `openDemo(t, options)`: a fresh page on that server
 * in that browser (see `openDemo` below).
 */
export function demoForTests() {
  let server;
  let browser;
  before(async () => {
    server = await startDemoServer({ port: 0 });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });
  return (t, options) => openDemo(t, { browser, base: server.url.replace(/\/$/, ''), ...options });
}

/**
 * A fresh page on the demo (served at `base` by www/demo-server.mjs) in its own
 * browser context with its own fault session, closed after the test `t`; an
 * uncaught page error fails the test. `defaults` leaves the config the demo's own;
 * `setup(control)` runs on the fresh fault session before the page loads (faults
 * or pacing the first requests meet). The workout starts from a click on the
 * start button: a user gesture, the video with sound, under Chromium's default
 * autoplay policy. Resolves { page, session, control }; `control(action, params)`
 * calls the fault server's control API for this session.
 */
export async function openDemo(t, { browser, base, query = '', defaults = false, setup } = {}) {
  const session = `e2e-${process.pid}-${++sessions}`;
  const control = (action, params = {}) => {
    const q = new URLSearchParams({ session, ...params });
    return fetch(`${base}/__fault/${action}?${q}`).then((r) => r.json());
  };
  await control('reset');
  await setup?.(control);
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  t.after(() => context.close());
  await context.addInitScript(trackTimers);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e));
  t.after(() => assert.deepEqual(errors, [], 'no uncaught errors in the page'));
  const overrides = defaults ? '' : `&config=${encodeURIComponent(JSON.stringify(config(session)))}`;
  await page.goto(`${base}/?session=${session}${overrides}${query}`);
  await page.waitForFunction(() => window.demo?.video, null, { timeout: 10_000 });
  await page.click('#start');
  return { page, session, control };
}

/** Runs in the page before its scripts: counts live intervals and timeouts (window.__timers). */
export function trackTimers() {
  const live = { intervals: new Set(), timeouts: new Set() };
  const { setInterval: si, clearInterval: ci, setTimeout: st, clearTimeout: ct } = window;
  window.setInterval = (...a) => {
    const id = si(...a);
    live.intervals.add(id);
    return id;
  };
  window.clearInterval = (id) => {
    live.intervals.delete(id);
    ci(id);
  };
  window.setTimeout = (f, ...a) => {
    const id = st((...x) => {
      live.timeouts.delete(id);
      typeof f === 'function' ? f(...x) : undefined;
    }, ...a);
    live.timeouts.add(id);
    return id;
  };
  window.clearTimeout = (id) => {
    live.timeouts.delete(id);
    ct(id);
  };
  window.__timers = live;
}

/** The page's clock (ms). */
export const now = (page) => page.evaluate(() => performance.now());

/** The video element, the handle's state and the workout clock (s). */
export const videoState = (page) =>
  page.evaluate(() => {
    const v = document.querySelector('#video');
    return { t: v.currentTime, paused: v.paused, muted: v.muted, state: window.demo.video.state, clock: window.demo.clock() };
  });

/** The demo's recorded events of `name` since `since` (page ms). */
export const eventsOf = (page, name, since = 0) =>
  page.evaluate(([name, since]) => window.demo.events.filter((e) => e.name === name && e.t >= since), [name, since]);

/** Polls `probe` until it returns something truthy; fails with `what` after `ms`. */
export async function until(what, probe, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Until the video plays on by itself (advancing, not seeking) and the module calls it healthy. */
export const playsAgain = (page, what, ms) =>
  until(what, async () => {
    const a = await videoState(page);
    await page.waitForTimeout(400);
    const b = await videoState(page);
    // A small step: playing, not the jump of a seek to the workout's time.
    return b.t > a.t && b.t - a.t < 1 && !b.paused && b.state === 'healthy' && b;
  }, ms);

/** Routes of the media server: none may see a request while the breaker is open. */
export const PLEX_ROUTES = ['video', 'transcode', 'manifest', 'segment', 'thumbnail', 'poster'];

/**
 * The incident on a playing demo page: the server hangs; once the plex breaker is
 * open it answers 504 after `gatewayDelayMs` (the proxy's timeout); `outageMs`
 * after the hang it is healthy again. Resolves what the page and the server saw:
 * page-clock times (ms) of the hang, the stall (the video's last advance), the
 * first notice, the fallback, the server's return and the video playing on by
 * itself again; the server's counts around the open breaker; and the server-clock
 * times of the probes.
 */
export async function incident(page, control, { outageMs, gatewayDelayMs = 2500 }) {
  // The last advance of the video, and the first one after the server is back
  // (a small step while playing, not the resume's seek).
  await page.evaluate(() => {
    const v = document.querySelector('#video');
    let last = v.currentTime;
    v.addEventListener('timeupdate', () => {
      const step = v.currentTime - last;
      last = v.currentTime;
      if (step <= 0 || v.seeking || v.paused) return;
      window.__advancedAt = performance.now();
      if (window.__healthyAt !== undefined && window.__resumedAt === undefined && step < 1) {
        window.__resumedAt = performance.now();
      }
    });
  });
  const hangAt = await now(page);
  await page.click('#fault-hang');
  const stepMs = Math.max(30_000, outageMs);
  const notice = await until('a first notice', async () => (await eventsOf(page, 'notice', hangAt))[0], stepMs);
  const enter = await until('the fallback', async () =>
    (await eventsOf(page, 'fallback', hangAt)).find((e) => e.event.type === 'enter'), stepMs);
  const stalledAt = await page.evaluate(() => window.__advancedAt);
  const opened = await until('the plex breaker to open', async () =>
    (await eventsOf(page, 'state', hangAt)).find((e) => e.event.service === 'plex' && e.event.to === 'open'), stepMs);

  await control('set', { route: 'all', mode: 'gateway-timeout', delayMs: String(gatewayDelayMs) });
  await page.waitForTimeout(300); // requests sent before the switch land first
  const before = await control('counts');
  const logFrom = (await control('log')).at(-1)?.t ?? 0;
  const wait = hangAt + outageMs - (await now(page));
  if (wait > 0) await page.waitForTimeout(wait);
  const during = await control('counts');
  const frames = (await eventsOf(page, 'fallback', enter.t)).filter((e) => e.event.type === 'frame');

  const healthyAt = await page.evaluate(() => (window.__healthyAt = performance.now()));
  await control('set', { route: 'all', mode: 'healthy' });
  const back = await playsAgain(page, 'the video to play again', 90_000);
  const resumedAt = await page.evaluate(() => window.__resumedAt);
  const closed = (await eventsOf(page, 'state', healthyAt)).find((e) => e.event.service === 'plex' && e.event.to === 'closed');
  const probes = (await control('log')).filter((e) => e.route === 'identity' && e.t > logFrom).map((e) => e.t);
  return { hangAt, stalledAt, notice, enter, opened, healthyAt, resumedAt, closed, back, before, during, frames, probes };
}

/** The person's view of an incident's result, in ms (rounded). */
export function incidentTimings(r) {
  const ms = (x) => Math.round(x);
  return {
    'video stalled, after the hang': ms(r.stalledAt - r.hangAt),
    'first notice, after the stall': ms(r.notice.t - r.stalledAt),
    'first notice': r.notice.event.key,
    'fallback, after the stall': ms(r.enter.t - r.stalledAt),
    'video playing, after the server answers': ms(r.resumedAt - r.healthyAt),
    'breaker closed, after the server answers': r.closed ? ms(r.closed.t - r.healthyAt) : null,
    'probes while open (504 phase)': r.probes.filter((t) => t <= r.probes.at(-1)).length,
    'least gap between probes': r.probes.length > 1 ? Math.min(...r.probes.slice(1).map((t, i) => t - r.probes[i])) : null,
  };
}
