// The built package as a page uses it: pkg/index.js imported by a plain
// <script type="module"> in headless Chromium (Debian's, through playwright-core),
// against the fault server. Checks what the wasm-bindgen tests cannot: the
// exports, the entry that starts on first use, the minified glue and the JS error shape.
// Run by `npm test` after `npm run build`: node --test tests/package/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultServer } from '../../www/fault-server.mjs';
import { launchChromium, startSite } from '../support.mjs';

let faults, site, browser, page;

/** pkg/ as is; /nowasm/ is pkg/ without its wasm (a page where the module cannot load). */
function packageFile(path) {
  const file = path.startsWith('/nowasm/') && !path.endsWith('.wasm') ? path.replace('/nowasm/', '/pkg/') : path;
  return file.startsWith('/pkg/') ? file : null;
}

before(async () => {
  faults = await startFaultServer({ port: 0 });
  site = await startSite('<!doctype html><title>package</title>', packageFile);
  browser = await launchChromium();
  page = await browser.newPage();
  await page.goto(`http://127.0.0.1:${site.address().port}/`);
});

after(async () => {
  await browser?.close();
  site?.close();
  await faults?.close();
});

/** Runs `body(api, base)` in the page, with the package imported as a page would. */
function inPage(session, body, entry = '/pkg/index.js') {
  return page.evaluate(async ([source, base, entry]) => {
    const api = await import(entry);
    return new Function('api', 'base', `return (async () => { ${source} })()`)(api, base);
  }, [body, `${faults.url}/s/${session}`, entry]);
}

test('the entry exports the API and starts on first use', async () => {
  const result = await inPage('pkg', `
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    const before = { enabled: r.enabled, metrics: r.metrics(), isolated: r.isolate('plex') };
    await r.ready;
    const after = { enabled: r.enabled, metrics: r.metrics() !== null };
    r.dispose();
    return { names: Object.keys(api).sort(), before, after };`);
  assert.deepEqual(result, {
    names: ['createResilience', 'validateConfig'],
    before: { enabled: true, metrics: null, isolated: false },
    after: { enabled: true, metrics: true },
  });
});

test('an invalid config rejects ready, every fetch and validateConfig with a CONFIG error naming the field', async () => {
  const result = await inPage('config', `
    const shape = (e) => ({ name: e.name, code: e.code, field: e.field, message: e.message, isError: e instanceof Error });
    const config = { enabled: true, retry: { maxAttempts: 0 } };
    const r = api.createResilience(config);  // never throws
    const fetched = r.fetch(base + '/api/v1/play/1').catch(shape);  // made before the start: waits for it
    const ready = await r.ready.then(() => null, shape);
    const later = await r.fetch(base + '/api/v1/play/1').catch(shape);
    const validated = await api.validateConfig(config).then(() => null, shape);
    const valid = await api.validateConfig({ enabled: true });
    return { ready, same: [await fetched, later, validated].every((e) => JSON.stringify(e) === JSON.stringify(ready)), valid, enabled: r.enabled };`);
  assert.deepEqual(result, {
    ready: {
      name: 'ResilienceError', code: 'CONFIG', field: 'retry.maxAttempts', isError: true,
      message: 'retry.maxAttempts must be between 1 and 10, got 0',
    },
    same: true,
    valid: undefined,
    enabled: false,
  });
});

test('300 random configs through createResilience never trap the wasm: each starts or is a CONFIG error', async () => {
  const result = await inPage('random-configs', `
    // A seeded generator: the same configs every run.
    let seed = 0x2545f491;
    const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const pick = (list) => list[Math.floor(next() * list.length)];
    const numbers = [0, -1, 1, 0.5, 3, 100, 1e4, 6e4, 1e9, 2 ** 53, 1e300, NaN, Infinity, -Infinity, -0];
    const leaf = () => pick([() => pick(numbers), () => pick(['', 'GET', 'open', '/api/v1/', 'x'.repeat(300)]), () => next() < 0.5, () => null, () => undefined, () => [], () => ({})])();
    // Valid field names at every depth, with values of any type: the reader's paths.
    const shape = {
      enabled: 1, secrets: 1, services: { name: 1, match: 1, probeUrl: 1, breaker: { failureThreshold: 1, errorRateThreshold: 1, minimumRequests: 1, windowBuckets: 1, bucketMs: 1, openMs: 1, openBackoffFactor: 1, maxOpenMs: 1, halfOpenMaxTrials: 1, successThreshold: 1, slowCallsAreFailures: 1 } },
      timeouts: { metadataMs: 1, thumbnailMs: 1, videoMs: 1, transcodeMs: 1, slowMs: 1 },
      retry: { maxAttempts: 1, statuses: 1, methods: 1, retryTimeouts: 1, retryNetworkErrors: 1, jitter: 1, initialDelayMs: 1, maxDelayMs: 1, factor: 1, deadlineMs: 1, maxRetryAfterMs: 1 },
      budget: { ratio: 1, minPerSecond: 1, windowMs: 1 },
      probe: { initialDelayMs: 1, maxDelayMs: 1, factor: 1, holdMs: 1, jitter: 1, successThreshold: 1, timeoutMs: 1 },
      notices: { durationMs: 1, messages: 1 }, playback: { stallMs: 1, sourceRetries: 1, thumbnailStepMs: 1, resume: 1 },
      persistence: { enabled: 1, key: 1, maxAgeMs: 1 }, report: { url: 1, pageId: 1, maxPerMinute: 1 }, classes: { match: 1, class: 1 },
    };
    const build = (fields) => {
      const out = {};
      for (const [key, sub] of Object.entries(fields)) {
        if (next() < 0.85) continue;
        out[key] = typeof sub === 'object' && next() < 0.8
          ? (['services', 'classes'].includes(key) ? [build(sub), build(sub)].slice(0, 1 + Math.floor(next() * 2)) : build(sub))
          : leaf();
      }
      return out;
    };
    const outcomes = { started: 0, config: 0, other: [] };
    for (let i = 0; i < 300; i++) {
      const config = { ...build(shape), enabled: true, persistence: { enabled: false } };
      const r = api.createResilience(config);
      try {
        await r.ready;
        outcomes.started++;
      } catch (e) {
        if (e.code === 'CONFIG' && e.field) outcomes.config++;
        else outcomes.other.push(String(e && (e.stack || e.message || e)));
      }
      r.dispose();
    }
    // A trap would have poisoned the module: it still starts and fetches.
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    await r.ready;
    const status = (await r.fetch(base + '/api/v1/play/1')).status;
    r.dispose();
    return { ...outcomes, status };`);
  assert.deepEqual(result.other, [], 'only CONFIG errors');
  assert.equal(result.started + result.config, 300);
  assert.ok(result.started > 10 && result.config > 10, `both kinds seen: ${result.started} started, ${result.config} refused`);
  assert.equal(result.status, 200);
});

test('on() takes exactly the running module\'s event names, before the start too', async () => {
  const result = await inPage('events', `
    const glue = await import('/pkg/player_resilience.js');
    const names = ['notice', 'state', 'retry', 'probe', 'metrics', 'fallback', 'nope'];
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    const early = names.map((n) => { try { r.on(n, () => {}); return true; } catch (e) { return e.message; } });
    await r.ready;
    const raw = glue.createResilience({ enabled: true, persistence: { enabled: false } });
    const running = names.map((n) => { try { raw.on(n, () => {}); return true; } catch (e) { return e.message; } });
    raw.free();
    r.dispose();
    return { early, running };`);
  assert.deepEqual(result.early, result.running);
  assert.equal(result.early.at(-1), "unknown event 'nope'; expected one of notice, state, retry, probe, metrics, fallback");
});

test('calls before the start take effect when it starts; dispose before the start starts nothing', async () => {
  const result = await inPage('early', `
    let opened = 0;
    const Channel = window.BroadcastChannel;
    window.BroadcastChannel = class extends Channel { constructor(n) { super(n); opened++; } };
    try {
      const states = [];
      const r = api.createResilience({ enabled: true, persistence: { key: 'package-early' } });
      r.on('state', (e) => states.push(e.to));
      await r.ready;
      r.isolate('plex');
      r.dispose();
      const gone = api.createResilience({ enabled: true, persistence: { key: 'package-early' } });
      gone.dispose();  // as React StrictMode does: create, dispose, create
      await gone.ready;
      // The disposed instance's lock is released asynchronously.
      let held;
      for (const end = performance.now() + 2000; performance.now() < end; await new Promise((r) => setTimeout(r, 20))) {
        const locks = await navigator.locks.query();
        held = [...locks.held, ...locks.pending].filter((l) => l.name.startsWith('package-early')).length;
        if (held === 0) break;
      }
      return { states, opened, held, enabled: gone.enabled, fetched: (await gone.fetch(base + '/api/v1/play/1')).status };
    } finally {
      window.BroadcastChannel = Channel;
    }`);
  assert.deepEqual(result, { states: ['isolated'], opened: 1, held: 0, enabled: false, fetched: 200 });
});

test('where the wasm cannot load, ready rejects with LOAD and the instance is a pass-through', async () => {
  await fetch(`${faults.url}/__fault/set?session=nowasm&route=metadata&mode=unavailable`);
  const result = await inPage('nowasm', `
    const warnings = [];
    const warn = console.warn;
    console.warn = (m) => warnings.push(String(m));
    try {
      const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
      const video = document.createElement('video');
      const h = r.attachVideo(video, {
        media: { id: '7', src: base + '/api/v1/proxy/plex/stream/7' }, thumbnailAt: () => '', sessionClock: () => 0,
      });
      const error = await r.ready.then(() => null, (e) => ({ name: e.name, code: e.code }));
      await h.ready;
      const status = (await r.fetch(base + '/api/v1/play/1')).status;
      return { error, status, enabled: r.enabled, src: video.getAttribute('src').split('/').pop(), warned: warnings.length };
    } finally {
      console.warn = warn;
    }`, '/nowasm/index.js');
  assert.deepEqual(result, {
    error: { name: 'ResilienceError', code: 'LOAD' }, status: 503, enabled: false, src: '7', warned: 1,
  });
  const counts = await (await fetch(`${faults.url}/__fault/counts?session=nowasm`)).json();
  assert.equal(counts.metadata, 1, 'the plain fetch: no retries');
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
    const first = (await r.fetch(base + '/api/v1/play/1')).status;  // waits for the start
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

test('attachVideo rejects bad options with the field', async () => {
  const errors = await inPage('options', `
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    const video = document.createElement('video');
    const ok = { thumbnailAt: () => '', sessionClock: () => 0 };
    // Before the start, option errors reject the handle's ready.
    const early = await r.attachVideo(video, { ...ok, resume: 'start' }).ready.then(() => null, (e) => e.field);
    await r.ready;
    const bad = [
      [video, {}],
      [video, { ...ok, sessionClock: 3 }],
      [video, { ...ok, resume: 'start' }],
      [video, { ...ok, media: { id: '1' } }],
      [video, { ...ok, overlay: 'div' }],
      [video, { ...ok, prefetch: { ahead: 100, maxEntries: 10 } }],
      [document.body, ok],
    ];
    const out = bad.map(([v, o]) => {
      try { r.attachVideo(v, o); return null; } catch (e) { return e.field ?? e.message; }
    });
    const h = r.attachVideo(video, ok);
    try { h.preload({ poster: '/p' }); out.push(null); } catch (e) { out.push(e.field); }
    r.dispose();
    return [early, ...out];`);
  assert.deepEqual(errors, [
    'options.resume',
    'options.thumbnailAt',
    'options.sessionClock',
    'options.resume',
    'options.media.src',
    'options.overlay',
    'options.prefetch.ahead',
    'attachVideo: the first argument must be a <video> element',
    'item.id',
  ]);
});

test('disabled, attachVideo only sets the source: no timer, no request of its own', async () => {
  const result = await inPage('video-off', `
    let timers = 0;
    const [st, si] = [window.setTimeout, window.setInterval];
    window.setTimeout = (...a) => (timers++, st(...a));
    window.setInterval = (...a) => (timers++, si(...a));
    try {
      const r = api.createResilience({ enabled: false });
      await r.ready;
      const video = document.createElement('video');
      const h = r.attachVideo(video, {
        media: { id: '7', src: base + '/api/v1/proxy/plex/stream/7' },
        thumbnailAt: () => base + '/x', sessionClock: () => 0,
      });
      h.load({ id: '8', src: base + '/api/v1/proxy/plex/stream/8' });
      const out = { src: video.getAttribute('src').split('/').pop(), state: h.state, mediaId: h.mediaId, timers };
      h.dispose();
      return out;
    } finally {
      window.setTimeout = st;
      window.setInterval = si;
    }`);
  assert.deepEqual(result, { src: '8', state: 'healthy', mediaId: '8', timers: 0 });
});

test('renderToasts shows each notice and removes it after its duration', async () => {
  const result = await inPage('toasts', `
    const r = api.createResilience({ enabled: true, persistence: { enabled: false }, notices: { durationMs: 500 } });
    await r.ready;
    const box = document.createElement('div');
    document.body.append(box);
    const stop = r.renderToasts(box);
    r.isolate('plex'); // "Video server is unavailable…"
    const shown = [...box.children].map((t) => [t.className, t.textContent]);
    await new Promise((resolve) => setTimeout(resolve, 800));
    const later = box.children.length;
    r.reset('plex');
    r.isolate('plex');
    stop();
    const afterStop = box.children.length;
    r.dispose();
    box.remove();
    return { shown, later, afterStop };`);
  assert.deepEqual(result, {
    shown: [['pr-toast pr-toast-warning', "Video server is unavailable. We'll keep checking."]],
    later: 0,
    afterStop: 0,
  });
});

test('a notice of the same moment takes the place of the one before: one toast, one message', async () => {
  const result = await inPage('toasts-moment', `
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    await r.ready;
    const notices = [];
    r.on('notice', (n) => notices.push([n.key, n.replaces]));
    const box = document.createElement('div');
    document.body.append(box);
    const stop = r.renderToasts(box);
    r.isolate('plex');  // "unavailable"…
    r.reset('plex');    // …and in the same moment "Video is back."
    const shown = [...box.children].map((t) => t.textContent);
    stop();
    r.dispose();
    box.remove();
    return { notices, shown };`);
  assert.deepEqual(result, {
    notices: [['unavailable', false], ['restored', true]],
    shown: ['Video is back.'],
  });
});

test('with nothing cached, the fallback shows a placeholder with the session time: never a broken image', async () => {
  for (const route of ['video', 'thumbnail']) {
    await fetch(`${faults.url}/__fault/set?session=placeholder&route=${route}&mode=reset`);
  }
  const frames = await inPage('placeholder', `
    const r = api.createResilience({ enabled: true, persistence: { enabled: false }, retry: { initialDelayMs: 10, maxDelayMs: 20 } });
    const box = document.createElement('div');
    box.style.cssText = 'position:relative;width:320px;height:180px';
    document.body.append(box);
    const seen = [];
    const shown = new Promise((resolve) => r.on('fallback', (e) => {
      if (e.type !== 'frame') return;
      const img = box.querySelector('img');
      img.decode().then(() => seen.push([e.mediaId, e.frame.source, e.frame.url.slice(0, 5), img.naturalWidth > 0]), () => seen.push('broken'));
      resolve();
    }));
    const h = r.attachVideo(document.createElement('video'), {
      media: { id: 'gen-ph', src: base + '/api/v1/proxy/plex/stream/gen-ph' },
      thumbnailAt: (id, s) => base + '/api/v1/proxy/plex/photo/:/transcode?url=/library/parts/' + id + '/indexes/sd/' + s * 1000,
      sessionClock: () => 42,
      overlay: box,
      cacheName: 'package-test-placeholder',
    });
    await shown;
    await new Promise((resolve) => setTimeout(resolve, 300));
    h.dispose();
    r.dispose();
    box.remove();
    return seen;`);
  assert.deepEqual(frames, [['gen-ph', 'placeholder', 'blob:', true]]);
});

test('the instance\'s dispose also stops its watched videos: no interval left', async () => {
  const result = await inPage('video-dispose', `
    const live = new Set();
    const [si, ci] = [window.setInterval, window.clearInterval];
    window.setInterval = (...a) => { const id = si(...a); live.add(id); return id; };
    window.clearInterval = (id) => { live.delete(id); ci(id); };
    try {
      const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
      await r.ready;
      const video = document.createElement('video');
      r.attachVideo(video, {  // the handle is not kept: the watch lives on anyway
        media: { id: '7', src: base + '/api/v1/proxy/plex/stream/7' },
        thumbnailAt: () => base + '/x', sessionClock: () => 0,
      });
      const watching = live.size;
      r.dispose();
      return { watching, after: live.size };
    } finally {
      window.setInterval = si;
      window.clearInterval = ci;
    }`);
  assert.deepEqual(result, { watching: 1, after: 0 });
});

/**
 * Sets up a page button that attaches a video (no autoplay attribute) and then
 * runs `then(video)` in the same click, as a player does after loading an item:
 * with sound and the default autoplay policy, the click is the user's gesture.
 */
async function attachOnClick(session, then) {
  await page.evaluate(async ([base, then]) => {
    const api = await import('/pkg/index.js');
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    await r.ready;
    const video = document.createElement('video');
    const button = document.createElement('button');
    button.textContent = 'play';
    button.onclick = () => {
      window.handle = r.attachVideo(video, {
        media: { id: '7', src: base + '/api/v1/proxy/plex/stream/7' }, thumbnailAt: () => '', sessionClock: () => 0,
      });
      new Function('video', then)(video);
    };
    document.body.append(video, button);
    window.cleanup = () => { window.handle.dispose(); r.dispose(); video.remove(); button.remove(); };
  }, [`${faults.url}/s/${session}`, then]);
  await page.click('button');
}

test('play() called right after attachVideo, during the source check, plays: its promise resolves', async () => {
  await attachOnClick('play-now', `
    video.play().then(() => (window.played = 'resolved'), (e) => (window.played = e.name + ': ' + e.message));`);
  try {
    const result = await page.waitForFunction(() => {
      const video = document.querySelector('video');
      return window.played && { played: window.played, paused: video.paused, muted: video.muted };
    }, null, { timeout: 15_000, polling: 100 });
    assert.deepEqual(await result.jsonValue(), { played: 'resolved', paused: false, muted: false });
  } finally {
    await page.evaluate(() => window.cleanup());
  }
});

test('pause() after that play(), once the source is set but before it can play, is honoured', async () => {
  await attachOnClick('pause-now', `
    video.play().catch(() => {});
    video.addEventListener('loadstart', () => video.pause(), { once: true });  // src set, no metadata yet
    video.addEventListener('canplay', () => (window.canplay = true), { once: true });`);
  try {
    // By canplay, a play() of the module's own (made at loadedmetadata) would have run.
    const result = await page.waitForFunction(() => {
      const video = document.querySelector('video');
      return window.canplay && { paused: video.paused, currentTime: video.currentTime };
    }, null, { timeout: 15_000, polling: 100 });
    assert.deepEqual(await result.jsonValue(), { paused: true, currentTime: 0 });
  } finally {
    await page.evaluate(() => window.cleanup());
  }
});

test('a resume the browser refuses to play waits for a tap, then plays with sound where the workout is', async () => {
  // Headless Chromium here plays unmuted media without a gesture whatever its
  // --autoplay-policy (measured: default, user-gesture-required and
  // document-user-activation-required all play www/media/sound.webm, which has a
  // tone). So the page plays the browser's part of a kiosk that refuses: until the
  // first gesture, play() rejects with the DOMException a refusing Chromium throws,
  // and the `autoplay` attribute is the page's wish only (a refusing browser does
  // not autoplay either; left to Chromium, it played the resumed video by itself
  // some seconds later, before a slow test's click).
  const context = await browser.newContext();
  await context.addInitScript(() => {
    const play = HTMLMediaElement.prototype.play;
    const autoplay = Object.getOwnPropertyDescriptor(HTMLMediaElement.prototype, 'autoplay');
    let activated = false;
    addEventListener('pointerdown', () => (activated = true), { capture: true, once: true });
    HTMLMediaElement.prototype.play = function () {
      if (activated) return play.call(this);
      return Promise.reject(new DOMException("play() failed because the user didn't interact with the document first.", 'NotAllowedError'));
    };
    Object.defineProperty(HTMLMediaElement.prototype, 'autoplay', {
      configurable: true,
      get() {
        return this.wantsAutoplay ?? false;
      },
      set(value) {
        this.wantsAutoplay = Boolean(value);
        if (activated) autoplay.set.call(this, value);
      },
    });
  });
  const fresh = await context.newPage();
  try {
    await fresh.goto(`http://127.0.0.1:${site.address().port}/`);
    await fresh.evaluate(async ([base]) => {
      const api = await import('/pkg/index.js');
      const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
      await r.ready;
      window.seen = [];
      r.on('notice', (n) => window.seen.push(n.key));
      r.on('fallback', (e) => e.type !== 'frame' && window.seen.push(e.type));
      const box = document.createElement('div');
      box.style.cssText = 'position:relative;width:320px;height:180px';
      const video = document.createElement('video');
      video.autoplay = true;  // the page wants it playing, with sound
      box.append(video);
      document.body.append(box);
      const started = performance.now();
      window.handle = r.attachVideo(video, {
        media: { id: 'sound', src: base + '/api/v1/proxy/plex/stream/sound' },  // www/media/sound.webm: with a tone
        thumbnailAt: () => base + '/x', sessionClock: () => 30 + (performance.now() - started) / 1000, overlay: box,
      });
      window.r = r;
    }, [`${faults.url}/s/tap`]);
    // Refused at the start: a gesture is awaited (no overlay outside the fallback).
    await fresh.waitForFunction(() => window.seen.includes('blocked'), null, { timeout: 15_000 });
    // An outage and its end: the resume's play() is refused again, over the fallback.
    await fresh.evaluate(() => window.r.isolate('plex'));
    await fresh.waitForFunction(() => window.seen.includes('enter'), null, { timeout: 15_000 });
    await fresh.evaluate(() => window.r.reset('plex'));
    await fresh.waitForSelector('.pr-fallback-tap', { timeout: 15_000 });
    await fresh.click('.pr-fallback-tap');
    const playing = await fresh.waitForFunction(() => {
      const v = document.querySelector('video');
      return !v.paused && v.currentTime > 30 && { muted: v.muted, at: Math.round(v.currentTime) };
    }, null, { timeout: 15_000, polling: 100 });
    const result = await playing.jsonValue();
    assert.equal(result.muted, false);
    assert.ok(result.at >= 30, `played where the workout is (${result.at} s)`);
    const seen = await fresh.evaluate(() => window.seen);
    assert.deepEqual(seen.filter((k) => ['tapToResume', 'blocked', 'unblocked'].includes(k)),
      ['tapToResume', 'blocked', 'tapToResume', 'blocked', 'unblocked']);
    assert.equal(await fresh.$('.pr-fallback-tap'), null, 'the button is gone');
    await fresh.evaluate(() => { window.handle.dispose(); window.r.dispose(); });
  } finally {
    await context.close();
  }
});

test('an unreadable file falls back with its own notice and countdown, and never opens the breaker', async () => {
  const result = await inPage('unreadable', `
    const r = api.createResilience({ enabled: true, persistence: { enabled: false } });
    const seen = [];
    r.on('notice', (n) => seen.push(n.key));
    r.on('fallback', (e) => e.type !== 'frame' && seen.push(e.type));
    const box = document.createElement('div');
    box.style.cssText = 'position:relative;width:320px;height:180px';
    const video = document.createElement('video');
    box.append(video);
    document.body.append(box);
    // The server answers 404 for this file (an id it does not serve), as for a file
    // its storage refuses to read.
    const h = r.attachVideo(video, {
      media: { id: 'gone', src: base + '/api/v1/proxy/plex/stream/no.such' },
      thumbnailAt: () => base + '/x', sessionClock: () => 0, overlay: box, cacheName: 'package-test-unreadable',
    });
    const until = async (test) => {
      for (const end = performance.now() + 10000; performance.now() < end; await new Promise((r) => setTimeout(r, 50))) {
        const value = test();
        if (value) return value;
      }
      return null;
    };
    const status = await until(() => box.querySelector('.pr-fallback-status')?.textContent);
    const breaker = r.snapshot().services.find((s) => s.name === 'plex')?.breaker.state ?? 'closed';
    // Other items still play.
    h.load({ id: '7', src: base + '/api/v1/proxy/plex/stream/7' });
    const next = await until(() => video.getAttribute('src')?.endsWith('/7') && h.state);
    h.dispose();
    r.dispose();
    box.remove();
    return { seen, status, breaker, next };`);
  assert.match(result.status ?? '', /^Video file unavailable — retrying · 00:(0\d|10)$/);
  assert.deepEqual(result.seen, ['unreadable', 'enter', 'exit']);
  assert.equal(result.breaker, 'closed');
  assert.equal(result.next, 'healthy');
});

/** The fault server's request log of `session`, thumbnails and posters as `{ media, ms }` (ms null: the poster). */
async function imagesRequested(session) {
  const log = await (await fetch(`${faults.url}/__fault/log?session=${session}`)).json();
  return log
    .filter((e) => e.route === 'thumbnail' || e.route === 'poster')
    .map((e) => {
      const frame = /parts\/([^/]+)\/indexes\/sd\/(\d+)/.exec(decodeURIComponent(e.path));
      return frame ? { media: frame[1], ms: Number(frame[2]) } : { media: e.path.split('/').pop(), ms: null };
    });
}

/** A page script: an instance with 2 s thumbnails and a paused, watched video of `id` (a paused video spares the bandwidth). */
const prefetchPage = (id, { sessionSeconds, isolate = false, prefetch, cacheName }) => `
  const r = api.createResilience({ enabled: true, persistence: { enabled: false }, playback: { thumbnailStepMs: 2000 } });
  await r.ready;
  if (${isolate}) r.isolate('plex');
  const frames = [];
  r.on('fallback', (e) => e.type === 'frame' && frames.push({ source: e.frame.source, offsetMs: e.frame.offsetMs }));
  const video = document.createElement('video');
  document.body.append(video);
  const thumbnailAt = (media, s) => base + '/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&url=/library/parts/' + media + '/indexes/sd/' + s * 1000;
  const h = r.attachVideo(video, {
    media: { id: '${id}', src: base + '/api/v1/proxy/plex/stream/${id}', poster: base + '/api/v1/display/plex/${id}' },
    thumbnailAt, sessionClock: () => ${sessionSeconds}, prefetch: ${JSON.stringify(prefetch)}, cacheName: '${cacheName}',
  });
  window.t = { r, h, video, frames, base, cleanup: () => { h.dispose(); r.dispose(); video.remove(); } };`;

test('healthy, the whole item is prefetched nearest the workout\'s time first, within the byte budget; a reloaded page finds the frames in Cache Storage', async () => {
  const session = 'prefetch-whole';
  const cacheName = 'package-test-prefetch-whole';
  await page.evaluate((name) => caches.delete(name), cacheName);
  // The 120 s clip has 60 thumbnails 2 s apart (~850 B each): 20 kB holds about 22.
  const prefetch = { ahead: 3, maxEntries: 1000, maxBytes: 20_000 };
  await inPage(session, prefetchPage('7', { sessionSeconds: 60, prefetch, cacheName }));
  const settled = async () => {
    const before = (await imagesRequested(session)).length;
    // The plan stops once full (then looks again every 5 s): nothing more within 3 s.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    return before > 10 && before === (await imagesRequested(session)).length;
  };
  for (const end = Date.now() + 30_000; !(await settled());) assert.ok(Date.now() < end, 'the prefetch never settled');
  const requested = await imagesRequested(session);
  const stored = await page.evaluate(async (name) => {
    const cache = await caches.open(name);
    const sizes = await Promise.all((await cache.keys()).map(async (k) => (await (await cache.match(k)).blob()).size));
    return { count: sizes.length, bytes: sizes.reduce((a, b) => a + b, 0) };
  }, cacheName);
  await page.evaluate(() => window.t.cleanup());

  // The poster, then 60 s, 62 s, 64 s, then nearest first (behind at twice the distance).
  assert.deepEqual(requested.slice(0, 8), [
    { media: '7', ms: null }, ...[60, 62, 64, 58, 66, 68, 56].map((s) => ({ media: '7', ms: s * 1000 })),
  ]);
  assert.equal(new Set(requested.map((r) => `${r.media}/${r.ms}`)).size, requested.length, 'no image fetched twice');
  assert.ok(stored.bytes <= prefetch.maxBytes, `${stored.bytes} B kept, budget ${prefetch.maxBytes}`);
  assert.ok(stored.count >= 18 && stored.count < 60, `${stored.count} images kept: the budget, not the item, bounds it`);
  const offsets = requested.filter((r) => r.ms !== null).map((r) => r.ms / 1000);
  assert.ok(Math.min(...offsets) > 30 && Math.max(...offsets) < 90, `only the frames nearest 60 s: ${offsets}`);

  // A reload: the server is down (the breaker isolated) at 100 s, a frame never
  // fetched. The index comes back from Cache Storage: the nearest frame shows.
  await page.reload();
  await inPage(session, prefetchPage('7', { sessionSeconds: 100, isolate: true, prefetch, cacheName }));
  const frame = await page.waitForFunction(() => window.t.frames[0], null, { timeout: 10_000 });
  assert.deepEqual(await frame.jsonValue(), { source: 'nearest', offsetMs: 100_000 });
  assert.equal((await imagesRequested(session)).length, requested.length, 'nothing fetched while isolated');
  await page.evaluate(() => window.t.cleanup());
});

test('preload warms the next item: a switch to it during an outage shows its own cached frames', async () => {
  const session = 'prefetch-preload';
  const cacheName = 'package-test-prefetch-preload';
  await page.evaluate((name) => caches.delete(name), cacheName);
  await inPage(session, prefetchPage('7', { sessionSeconds: 0, prefetch: { ahead: 3 }, cacheName }) + `
    h.preload({ id: '8', poster: base + '/api/v1/display/plex/8' });`);
  const warmed = async () => (await imagesRequested(session)).filter((r) => r.media === '8').length === 4;
  for (const end = Date.now() + 20_000; !(await warmed());) {
    assert.ok(Date.now() < end, 'item 8 was never warmed');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const requested = await imagesRequested(session);
  // Item 7's poster and first three first, then item 8's poster and first three (at
  // equal ranks, the playing item's first).
  assert.deepEqual(requested.slice(0, 4), [{ media: '7', ms: null }, ...[0, 2, 4].map((s) => ({ media: '7', ms: s * 1000 }))]);
  assert.deepEqual(requested.filter((r) => r.media === '8'), [{ media: '8', ms: null }, ...[0, 2, 4].map((s) => ({ media: '8', ms: s * 1000 }))]);
  // The server goes down; the page switches to item 8 at the workout's 3 s.
  const frame = await page.evaluate(async () => {
    const { r, h, base, frames } = window.t;
    r.isolate('plex');
    frames.length = 0;
    h.load({ id: '8', src: base + '/api/v1/proxy/plex/stream/8' });
    for (const end = performance.now() + 10_000; performance.now() < end; await new Promise((res) => setTimeout(res, 50))) {
      if (frames.length) return { mediaId: h.mediaId, ...frames[0] };
    }
    return null;
  });
  await page.evaluate(() => window.t.cleanup());
  assert.deepEqual(frame, { mediaId: '8', source: 'cache', offsetMs: 0 });
});
