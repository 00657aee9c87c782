// attachVideo with a streaming player (`options.player`): Shaka Player, dash.js and
// hls.js from npm, driven by the module through their adapters (`shakaPlayer`,
// `dashjsPlayer`, `hlsPlayer`), in headless Chromium with its default autoplay
// policy and an unmuted video started by a click, against the fault server's DASH
// and HLS content over the Plex transcode URLs. For each library:
//   - the incident: the server hangs, then answers 504s, then recovers after the
//     breaker opened: a notice, the fallback with advancing cached thumbnails, no
//     manifest or segment request at the server while the breaker is open (only
//     probes), and the video playing again at the workout's time;
//   - a dead transcode session (its segments answer 404 forever): the video
//     recovers through a fresh `media.src('reload')`, the breaker stays closed;
//   - a media switch mid-outage: nothing of the old item acts on the new one;
//   - dispose: the library's settings back, no timer of the module's left.
// And a custom adapter (a plain object) carries the module's decisions out.
//
// Time: the libraries' buffer goals are 6 s (so an outage stalls the video within
// seconds), the config shortens timeouts, probes and breaker rests (the default
// config's timings are issue 11's). The incident's timings go to
// test-output/streaming-timings.json. Waits are polls with deadlines.
// Run after `npm run build`: node --test tests/players/streaming.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startFaultServer } from '../../www/fault-server.mjs';
import { libraryFile } from '../../www/demo-server.mjs';
import { launchChromium, startSite } from '../support.mjs';

const OUT = new URL('../../test-output/', import.meta.url);
// The import map resolves dash-video-element's bare imports as a bundler would.
const PAGE = `<!doctype html><title>streaming</title>
<script type="importmap">{ "imports": { "dashjs": "/lib/dash.all.min.js",
  "custom-media-element": "/lib/custom-media-element.js", "media-tracks": "/lib/media-tracks/index.js" } }</script>
<div id="box" style="position: relative; width: 320px; height: 180px">
  <video width="320" height="180"></video><div id="overlay" style="position: absolute; inset: 0"></div>
</div><button id="play">play</button>
<script>document.querySelector('#play').onclick = () => { window.t.startClock(); window.t.video.play().catch(() => {}); };</script>`;
const U = '/api/v1/proxy/plex/video/:/transcode/universal';
/** The server routes of the Plex media server: none may see a request while the breaker is open. */
const MEDIA_ROUTES = ['manifest', 'segment', 'video', 'transcode', 'thumbnail'];

const config = (base) => ({
  enabled: true,
  persistence: { enabled: false },
  timeouts: { metadataMs: 2000, videoMs: 3000, transcodeMs: 3000 },
  probe: { initialDelayMs: 500, maxDelayMs: 1000, successThreshold: 1, jitter: false },
  playback: { thumbnailStepMs: 2000 },
  services: [{
    name: 'plex',
    match: ['/api/v1/proxy/plex/'],
    probeUrl: `${base}/api/v1/proxy/plex/identity`,
    breaker: { failureThreshold: 3, openMs: 1000, maxOpenMs: 4000, successThreshold: 2 },
  }],
});

/** Each library made and handed to the module: `player` (the library's object), `adapter`, `settings()`. */
const SETUP = {
  shaka: `
    const { shakaPlayer } = await import('/pkg/shaka.js');
    shaka.polyfill.installAll();
    const player = new shaka.Player();
    await player.attach(video);
    player.configure({ streaming: { bufferingGoal: 6, rebufferingGoal: 1,
      retryParameters: { maxAttempts: 7, baseDelay: 250, backoffFactor: 2, fuzzFactor: 0.5, timeout: 0 } } });
    const settings = () => JSON.stringify([player.getConfiguration().streaming.retryParameters,
      player.getConfiguration().manifest.retryParameters]);
    return { player, adapter: shakaPlayer(player, { shaka }), settings, ext: 'mpd' };`,
  dashjs: `
    const dashjs = await import('/lib/dash.all.min.js');
    const { dashjsPlayer } = await import('/pkg/dashjs.js');
    const player = dashjs.MediaPlayer().create();
    player.updateSettings({ debug: { logLevel: 1 }, streaming: { buffer: { bufferTimeDefault: 6,
      bufferTimeAtTopQuality: 6, bufferTimeAtTopQualityLongForm: 6 } } });
    player.initialize(video, null, false);
    const settings = () => JSON.stringify(player.getSettings().streaming.retryAttempts);
    return { player, adapter: dashjsPlayer(player), settings, ext: 'mpd' };`,
  hlsjs: `
    const { default: Hls } = await import('/lib/hls.min.mjs');
    const { hlsPlayer } = await import('/pkg/hlsjs.js');
    // hls.js grows its buffer target with maxBufferSize / bitrate: at this clip's
    // bitrate it would hold all of it, and an outage would never stall the video.
    const player = new Hls({ maxBufferLength: 6, maxMaxBufferLength: 6 });
    player.attachMedia(video);
    const names = ['loader', 'pLoader', 'fLoader', 'fragLoadPolicy', 'manifestLoadPolicy', 'startPosition'];
    const settings = () => JSON.stringify(names.map((n) => typeof player.config[n] === 'function'
      ? player.config[n].name : player.config[n]));
    return { player, adapter: hlsPlayer(player), settings, ext: 'm3u8' };`,
  // dash.js's <dash-video> element (dash-video-element): it makes its MediaPlayer
  // on its first load (the adapter applies the settings then), and its own
  // settings are a fresh MediaPlayer's.
  dashvideo: `
    const dashjs = await import('/lib/dash.all.min.js');
    await import('/lib/dash-video-element.js');
    const { dashVideoPlayer } = await import('/pkg/dashjs.js');
    const element = document.createElement('dash-video');
    video.replaceWith(element);
    element.nativeEl.style.width = '320px';
    const defaults = JSON.stringify(dashjs.MediaPlayer().create().getSettings().streaming.retryAttempts);
    const settings = () => (element.api ? JSON.stringify(element.api.getSettings().streaming.retryAttempts) : defaults);
    const buffer = { bufferTimeDefault: 6, bufferTimeAtTopQuality: 6, bufferTimeAtTopQualityLongForm: 6 };
    const adapter = dashVideoPlayer(element, { settings: { streaming: { buffer } } });
    return { player: element, adapter, settings, ext: 'mpd', video: element.nativeEl };`,
  // The page's own adapter: the element's src, as a plain object that logs its calls.
  custom: `
    const calls = [];
    const adapter = {
      load(url, start) {
        calls.push(['load', url.replace(/.*\\/s\\/[^/]*/, ''), Math.round(start)]);
        return new Promise((resolve, reject) => {
          video.addEventListener('loadedmetadata', () => {
            if (start > 0) video.currentTime = start;
            resolve();
          }, { once: true });
          video.addEventListener('error', () => reject({ fatal: true, message: 'the element failed' }), { once: true });
          video.src = url;
        });
      },
      unload() {
        calls.push(['unload']);
        video.removeAttribute('src');
        video.load();
      },
      onError(listener) {
        calls.push(['onError']);
        const onError = () => listener({ fatal: true, message: 'the element failed' });
        video.addEventListener('error', onError);
        return () => {
          calls.push(['unsubscribe']);
          video.removeEventListener('error', onError);
        };
      },
      detach() {
        calls.push(['detach']);
      },
    };
    return { player: null, adapter, calls, settings: () => '', url: (base, id) => base + '/api/v1/proxy/plex/stream/sound' };`,
};

let faults, site, browser;
let sessions = 0;
const timings = {};

before(async () => {
  fs.mkdirSync(OUT, { recursive: true });
  faults = await startFaultServer({ port: 0 });
  site = await startSite(PAGE, (path) => libraryFile(path) ?? (path.startsWith('/pkg/') ? path : null));
  browser = await launchChromium();
});

after(async () => {
  if (Object.keys(timings).length) {
    fs.writeFileSync(new URL('streaming-timings.json', OUT), JSON.stringify(timings, null, 2) + '\n');
  }
  await browser?.close();
  site?.close();
  await faults?.close();
});

/** A fresh context and page with `lib` attached through its adapter; media item `101` queued. */
async function open(t, lib) {
  const session = `${lib}-stream-${++sessions}`;
  const control = (action, params = {}) =>
    fetch(`${faults.url}/__fault/${action}?${new URLSearchParams({ session, ...params })}`).then((r) => r.json());
  const context = await browser.newContext();
  t.after(() => context.close());
  await context.addInitScript(trackModuleTimers);
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  t.after(() => assert.deepEqual(pageErrors, [], 'no uncaught errors in the page'));
  await page.goto(`http://127.0.0.1:${site.address().port}/`);
  if (lib === 'shaka') await page.addScriptTag({ url: '/lib/shaka-player.compiled.js' });
  const base = `${faults.url}/s/${session}`;
  await page.evaluate(async ([source, base, config, U]) => {
    const { createResilience } = await import('/pkg/index.js');
    const r = createResilience(config);
    await r.ready;
    const video = document.querySelector('video');
    const events = [];
    for (const name of ['notice', 'fallback', 'state', 'probe']) {
      r.on(name, (event) => events.push({ name, t: performance.now(), event }));
    }
    const made = await new Function('video', `return (async () => { ${source} })()`)(video);
    const watched = made.video ?? video;
    let clockStart = null;
    const t = (window.t = {
      r, events, base, ...made, video: watched,
      startClock: () => { clockStart ??= performance.now(); },
      clock: () => (clockStart === null ? 0 : (performance.now() - clockStart) / 1000),
      sources: [],
      moduleTimersBefore: window.__moduleTimers(),
      original: made.settings(),
    });
    let starts = 0;
    t.media = (id) => ({
      id,
      src: (reason) => {
        const url = made.url ? made.url(base, id) : `${base}${U}/start.${made.ext}?path=/library/metadata/${id}&n=${++starts}`;
        t.sources.push({ id, reason, url, at: performance.now() });
        return url;
      },
    });
    t.handle = r.attachVideo(watched, {
      player: made.adapter,
      media: t.media('101'),
      overlay: document.querySelector('#overlay'),
      thumbnailAt: (id, s) => `${base}/api/v1/proxy/plex/photo/:/transcode?width=240&height=135`
        + `&url=/library/parts/${id}/indexes/sd/${Math.floor(s) * 1000}`,
      sessionClock: () => t.clock(),
    });
  }, [SETUP[lib], base, config(base), U]);
  const evaluate = (body) => page.evaluate((source) => new Function(`return (async () => { ${source} })()`)(), body);
  return { page, session, control, eval: evaluate };
}

/** Runs in the page before its scripts: the module's live timers (made from its glue). */
function trackModuleTimers() {
  const live = new Set();
  const ours = () => /player_resilience/.test(new Error().stack);
  const wrap = (set, clear, once) => {
    window[set.name] = function (f, ...rest) {
      const mine = ours();
      const id = set.call(window, once && mine ? (...a) => { live.delete(id); f(...a); } : f, ...rest);
      if (mine) live.add(id);
      return id;
    };
    window[clear.name] = function (id) {
      live.delete(id);
      return clear.call(window, id);
    };
  };
  wrap(window.setInterval, window.clearInterval, false);
  wrap(window.setTimeout, window.clearTimeout, true);
  window.__moduleTimers = () => live.size;
}

/** Polls `check` until it gives something truthy; fails with `what` after `ms`. */
async function until(what, check, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const video = (p) => p.eval(`const v = window.t.video; return { t: v.currentTime, paused: v.paused,
  state: window.t.handle.state, clock: window.t.clock(), muted: v.muted, now: performance.now() };`);
const events = (p, name, since = 0) =>
  p.eval(`return window.t.events.filter((e) => e.name === ${JSON.stringify(name)} && e.t >= ${since});`);
const breakerState = (p) => p.eval(`return window.t.r.snapshot().services.find((s) => s.name === 'plex').breaker.state;`);

/** Clicks play (a gesture: sound on, default autoplay policy), then waits for `seconds` of play and some cached thumbnails. */
async function playing(p, seconds = 3) {
  await until('the item loaded', async () => (await p.eval('return window.t.video.readyState;')) >= 2);
  await p.page.click('#play');
  await until(`${seconds} s of play`, async () => (await video(p)).t >= seconds, 30_000);
  await until('thumbnails cached ahead', async () => (await p.control('counts')).thumbnail >= 3);
  const v = await video(p);
  assert.equal(v.muted, false, 'the video plays with sound');
}

/** Waits until the video advances and the module calls it healthy. */
async function playsAgain(p, what, ms = 30_000) {
  return until(what, async () => {
    const a = await video(p);
    await new Promise((resolve) => setTimeout(resolve, 400));
    const b = await video(p);
    return b.t > a.t && !b.paused && b.state === 'healthy' && b;
  }, ms);
}

for (const lib of ['shaka', 'dashjs', 'dashvideo', 'hlsjs']) {
  test(`${lib}: the incident: fallback with cached frames, nothing but probes reach the server while open, back at the workout's time`, async (t) => {
    const p = await open(t, lib);
    await playing(p);
    await p.eval(`const v = window.t.video; v.addEventListener('timeupdate', () => {
      if (v.currentTime > (window.__last ?? 0)) window.__advancedAt = performance.now(); window.__last = v.currentTime; });`);

    const hangAt = (await video(p)).now;
    await p.control('set', { route: 'all', mode: 'hang' });
    const notice = await until('a notice', async () => (await events(p, 'notice', hangAt))[0], 30_000);
    const enter = await until('the fallback', async () =>
      (await events(p, 'fallback', hangAt)).find((e) => e.event.type === 'enter'), 40_000);
    const stalledAt = await p.eval('return window.__advancedAt;');
    await until('two cached frames', async () => {
      const frames = (await events(p, 'fallback', enter.t)).filter((e) => e.event.type === 'frame');
      return new Set(frames.filter((e) => e.event.frame.source === 'cache').map((e) => e.event.frame.offsetMs)).size >= 2;
    }).catch(async (error) => {
      const frames = (await events(p, 'fallback', enter.t)).map((e) => [Math.round(e.t - enter.t), e.event.type, e.event.frame?.source, e.event.frame?.offsetMs]);
      throw new Error(`${error.message}: ${JSON.stringify({ stall: stalledAt - hangAt, enter: enter.t - hangAt, frames })}`);
    });
    assert.ok(await p.page.isVisible('#overlay .pr-fallback-frame'), 'the overlay shows the frame');

    await until('the plex breaker open', async () => (await breakerState(p)) === 'open');
    await p.control('set', { route: 'all', mode: 'gateway-timeout' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // requests sent before the switch land first
    const before = await p.control('counts');
    await until('two probes', async () => (await p.control('counts')).identity >= before.identity + 2);
    const during = await p.control('counts');
    assert.equal(await breakerState(p), 'open', 'still open: the probes see 504s');
    for (const route of MEDIA_ROUTES) assert.equal(during[route], before[route], `no ${route} request while open`);

    const healthyAt = (await video(p)).now;
    await p.control('set', { route: 'all', mode: 'healthy' });
    const back = await playsAgain(p, 'the video playing again');
    const restored = (await events(p, 'notice', healthyAt)).find((e) => e.event.key === 'restored');
    assert.ok(restored, 'a "Video is back." notice');
    assert.ok(Math.abs(back.t - back.clock) < 4, `resumed at the workout's time: video ${back.t}, clock ${back.clock}`);
    const sources = await p.eval('return window.t.sources;');
    assert.equal(sources.at(-1).reason, 'resume', 'the resume asked the page for a fresh source');
    assert.equal(await p.page.isVisible('#overlay .pr-fallback'), false, 'the overlay is gone');

    timings[lib] = {
      'video stalled, after the hang (ms)': Math.round(stalledAt - hangAt),
      'first notice, after the stall (ms)': Math.round(notice.t - stalledAt),
      'fallback, after the stall (ms)': Math.round(enter.t - stalledAt),
      'video playing, after the server is back (ms)': Math.round(back.now - 400 - healthyAt),
      'manifest + segment requests at the server while open': (during.manifest - before.manifest)
        + (during.segment - before.segment),
    };
    t.diagnostic(`${lib} incident timings: ${JSON.stringify(timings[lib])}`);
  });

  test(`${lib}: a dead transcode session recovers through a fresh src; the breaker stays closed`, async (t) => {
    const p = await open(t, lib);
    await playing(p);
    const at = (await video(p)).t;
    const killed = await p.control('transcode', { kill: '1' });
    assert.ok(killed.killed.length >= 1, 'a live transcode session was killed');
    const reload = await until('a reload with a fresh src', async () =>
      (await p.eval('return window.t.sources;')).find((s) => s.reason === 'reload'), 30_000);
    assert.match(reload.url, /metadata\/101/);
    const back = await playsAgain(p, 'the video playing through the fresh session');
    assert.ok(back.t >= at, `it went on from where it was: ${at} → ${back.t}`);
    const after = await p.control('transcode');
    assert.ok(after.live.length >= 1, 'a new transcode session is live');
    assert.equal(await breakerState(p), 'closed');
    const opened = (await events(p, 'state')).filter((e) => e.event.to !== 'closed');
    assert.deepEqual(opened, [], 'the breaker never left closed');
    assert.equal((await events(p, 'fallback')).length, 0, 'no fallback');
  });

  test(`${lib}: a media switch mid-outage: nothing of the old item acts on the new one`, async (t) => {
    const p = await open(t, lib);
    await playing(p);
    await p.control('set', { route: 'all', mode: 'gateway-timeout' });
    await p.eval(`window.t.r.isolate('plex');`);
    await until('the fallback', async () => (await p.eval('return window.t.handle.state;')) === 'fallback');
    const log = (params = {}) => p.control('log', params);
    const since = String((await log()).at(-1)?.t ?? 0);
    const switchedAt = await p.eval(`const at = performance.now(); window.t.handle.load(window.t.media('102')); return at;`);
    const frames = await until('frames of the new item', async () => {
      const f = (await events(p, 'fallback', switchedAt)).filter((e) => e.event.type === 'frame');
      return f.length >= 2 && f;
    });
    assert.ok(frames.every((e) => e.event.mediaId === '102'),
      `every frame since the switch is the new item's: ${JSON.stringify(frames.map((e) => e.event))}`);
    await p.control('set', { route: 'all', mode: 'healthy' });
    await p.eval(`window.t.r.reset('plex');`);
    await playsAgain(p, 'the new item playing');
    const sources = await p.eval('return window.t.sources;');
    const asked = sources.filter((s) => s.at > switchedAt);
    assert.ok(asked.length >= 1 && asked.every((s) => s.id === '102'), 'only the new item asked for a source');
    const old = (await log({ since })).filter((e) => /metadata\/101|\/session\/101-|\/parts\/101\//.test(e.path));
    assert.deepEqual(old, [], 'no request of the old item reached the server after the switch');
  });

  test(`${lib}: dispose restores the library's settings and leaves no timer of the module's`, async (t) => {
    const p = await open(t, lib);
    const original = await p.eval(`return window.t.original;`);
    await playing(p, 1);
    const attached = await p.eval(`return window.t.settings();`);
    assert.notEqual(attached, original, 'attached: the library\'s retries are bounded');
    await p.eval(`window.t.handle.dispose();`);
    assert.equal(await p.eval(`return window.t.settings();`), original, 'disposed: the library\'s own settings');
    // (A request the library sent through r.fetch before the dispose keeps its timer until it ends.)
    await until('no timer of the video\'s left', async () =>
      (await p.eval('return window.__moduleTimers() - window.t.moduleTimersBefore;')) <= 0, 5_000);
    // The library keeps playing on its own: its requests are no longer the module's.
    const counted = await p.eval(`return window.t.r.metrics().services.find((s) => s.name === 'plex')
      .classes.reduce((n, c) => n + c.requests, 0);`);
    await p.eval(`window.t.video.currentTime = 60;`);
    await until('the library fetching on its own', async () => (await video(p)).t >= 61, 20_000);
    const later = await p.eval(`return window.t.r.metrics().services.find((s) => s.name === 'plex')
      .classes.reduce((n, c) => n + c.requests, 0);`);
    assert.equal(later, counted, 'no request of the library\'s through the module after dispose');
  });
}

for (const lib of ['shaka', 'dashjs', 'hlsjs']) {
  // The page's wish to play: a click while the player still loads the item (the
  // player's new source resets the element, which rejects that play()).
  test(`${lib}: a play() the page makes while the player loads is honoured`, async (t) => {
    const p = await open(t, lib);
    assert.ok((await p.eval('return window.t.video.readyState;')) < 2, 'still loading when the page plays');
    await p.page.click('#play');
    await until('the video to play', async () => (await video(p)).t >= 1, 20_000);
    assert.equal((await video(p)).paused, false);
  });
}

// Shaka does not always abort a request of a load that unload() interrupts, and
// Chromium holds a later GET of the same URL behind a pending one: without the
// adapter ending its requests itself, the next load waited for the hung one's
// timeout (60 s for a transcode start).
test('shaka: an unload ends a hung manifest request, so the next load of the same URL is not held behind it', async (t) => {
  const p = await open(t, 'shaka');
  await until('the item loaded', async () => (await p.eval('return window.t.video.readyState;')) >= 2);
  await p.control('set', { route: 'manifest', mode: 'hang' });
  const before = (await p.control('counts')).manifest;
  await p.eval(`
    const { shakaPlayer } = await import('/pkg/shaka.js');
    const video = document.createElement('video');
    document.body.append(video);
    const player = new shaka.Player();
    await player.attach(video);
    const adapter = shakaPlayer(player, { shaka });
    adapter.attach(window.t.r);
    const url = window.t.base + '${U}/start.mpd?path=/library/metadata/102&n=same';
    window.second = { adapter, url, first: adapter.load(url, 0).then(() => 'loaded', () => 'failed') };`);
  await until('the manifest request hanging at the server', async () => (await p.control('counts')).manifest > before);
  await p.eval('await window.second.adapter.unload();');
  await p.control('set', { route: 'manifest', mode: 'healthy' });
  const result = await p.eval(`const s = window.second;
    const bound = new Promise((resolve) => setTimeout(() => resolve('held'), 20000));
    const loaded = await Promise.race([s.adapter.load(s.url, 0).then(() => 'loaded'), bound]);
    return { first: await s.first, loaded };`);
  assert.deepEqual(result, { first: 'failed', loaded: 'loaded' });
});

test('a custom adapter (a plain object) carries out the module\'s loads, unloads and resumes', async (t) => {
  const p = await open(t, 'custom');
  await playing(p);
  const calls = () => p.eval('return window.t.calls;');
  // Every load stops what the player had first.
  assert.deepEqual(await calls(), [['onError'], ['unload'], ['load', '/api/v1/proxy/plex/stream/sound', 0]]);
  // The breaker opens: the fallback unloads the item.
  await p.eval(`window.t.r.isolate('plex');`);
  await until('the fallback', async () => (await p.eval('return window.t.handle.state;')) === 'fallback');
  assert.deepEqual((await calls()).at(-1), ['unload']);
  await new Promise((resolve) => setTimeout(resolve, 2000));
  // It closes: the item is loaded again at the workout's time, and plays.
  await p.eval(`window.t.r.reset('plex');`);
  const back = await playsAgain(p, 'the video playing again');
  const resume = (await calls()).at(-1);
  assert.equal(resume[0], 'load');
  assert.ok(Math.abs(resume[2] - back.clock) < 3, `loaded at the workout's time: ${resume[2]}, clock ${back.clock}`);
  assert.deepEqual((await p.eval('return window.t.sources;')).map((s) => s.reason), ['load', 'resume']);
  await p.eval('window.t.handle.dispose();');
  assert.deepEqual((await calls()).slice(-2), [['unsubscribe'], ['detach']]);
});

test('an adapter without load, unload or onError is refused with the field', async (t) => {
  const p = await open(t, 'custom');
  const error = await p.eval(`try {
      window.t.r.attachVideo(document.createElement('video'), { player: { load() {}, unload() {} },
        thumbnailAt: () => '', sessionClock: () => 0 });
    } catch (e) { return { code: e.code, field: e.field, rule: e.rule }; }`);
  assert.deepEqual(error, { code: 'CONFIG', field: 'options.player.onError', rule: 'must be a function' });
});
