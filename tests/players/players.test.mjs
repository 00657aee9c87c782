// The streaming players' adapters (`player-resilience/shaka`, `/dashjs`, `/hlsjs`)
// with the real libraries from npm (shaka-player, dashjs, hls.js), in headless
// Chromium (Debian's, through playwright-core), against the fault server's DASH
// and HLS content over the Plex transcode URLs. For each library:
//   (a) it plays, and the module counts its manifest and segment requests under
//       the plex service with the right classes (as many as reached the server);
//   (b) with the breaker isolated, its next segment and manifest requests fail at
//       once (the module's `rejected` grows, the library reports the module's
//       error) and the server's `segment` and `manifest` counts do not grow;
//   (c) dispose restores the library's settings and transport: its requests
//       reach the server directly (even with the breaker isolated) and the module
//       counts none of them.
// And the transport's contract below playback (Shaka's NetworkingEngine, hls.js's
// loader): Range, status, headers, progress and stats, abort of a hung request.
// Each test has its own browser context, page and fault session. Playback starts
// from a click (`page.click`), so Chromium's default autoplay policy is kept.
// Waits are polls with deadlines. Run after `npm run build`: node --test tests/players/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFaultServer } from '../../www/fault-server.mjs';
import { libraryFile } from '../../www/demo-server.mjs';
import { launchChromium, startSite } from '../support.mjs';

const PAGE = `<!doctype html><title>players</title>
<video width="320" height="180"></video><button id="play">play</button>
<script>document.querySelector('#play').onclick = () => { window.played = document.querySelector('video').play(); };</script>`;
/** The reference frontend's Shaka retry parameters. */
const REFERENCE_RETRY = { maxAttempts: 7, baseDelay: 250, backoffFactor: 2, fuzzFactor: 0.5, timeout: 0 };
const U = '/api/v1/proxy/plex/video/:/transcode/universal';

let faults, site, browser;
let sessions = 0;

before(async () => {
  faults = await startFaultServer({ port: 0 });
  // The page, pkg/ and the libraries' builds (under /lib/).
  site = await startSite(PAGE, (path) => libraryFile(path) ?? (path.startsWith('/pkg/') ? path : null));
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  site?.close();
  await faults?.close();
});

/** The fault server's counts for a session. */
async function counts(session) {
  return (await fetch(`${faults.url}/__fault/counts?session=${session}`)).json();
}

/**
 * In-page set-up of each library: `r` (started), the player attached with the
 * adapter, and its source loading (not playing). Leaves `window.t = { r, video,
 * player, handle, errors, load(url), seek(s), original() }` where `original()`
 * reads the library's settings the adapter bounds, for comparison.
 */
const SETUP = {
  shaka: `
    const { attachShaka } = await import('/pkg/shaka.js');
    shaka.polyfill.installAll();
    const player = new shaka.Player();
    await player.attach(video);
    player.configure({ streaming: { retryParameters: reference }, manifest: { retryParameters: reference } });
    const settings = () => {
      const c = player.getConfiguration();
      return { streaming: c.streaming.retryParameters, manifest: c.manifest.retryParameters };
    };
    const original = JSON.stringify(settings());
    player.addEventListener('error', (e) => errors.push({ at: performance.now(),
      code: e.detail.code, severity: e.detail.severity, module: e.detail.data[1] && e.detail.data[1].code }));
    const handle = attachShaka(r, player, { shaka });
    const load = (url) => player.load(url).catch((e) => errors.push({ at: performance.now(),
      code: e.code, severity: e.severity, module: e.data[1] && e.data[1].code, load: true }));
    Object.assign(t, { player, handle, load, settings, original });
    load(base + '${U}/start.mpd?path=/library/metadata/101');`,
  dashjs: `
    const dashjs = await import('/lib/dash.all.min.js');
    const { attachDashjs } = await import('/pkg/dashjs.js');
    const player = dashjs.MediaPlayer().create();
    player.updateSettings({ debug: { logLevel: 1 } });
    const settings = () => ({ retryAttempts: player.getSettings().streaming.retryAttempts,
      retryIntervals: player.getSettings().streaming.retryIntervals });
    const original = JSON.stringify(settings());
    const handle = attachDashjs(r, player);
    player.on('error', (e) => errors.push({ at: performance.now(),
      code: e.error && e.error.code, module: e.error && e.error.data && e.error.data.response
        && e.error.data.response.resilienceError && e.error.data.response.resilienceError.code }));
    player.initialize(video, base + '${U}/start.mpd?path=/library/metadata/101', false);
    const load = (url) => player.attachSource(url);
    Object.assign(t, { player, handle, load, settings, original });`,
  hlsjs: `
    const { default: Hls } = await import('/lib/hls.min.mjs');
    const { attachHls } = await import('/pkg/hlsjs.js');
    // At this clip's ~28 kbps hls.js would buffer all of it (its target grows with
    // maxBufferSize / bitrate): 10 s, so a seek asks for new fragments.
    const player = new Hls({ maxBufferLength: 10, maxMaxBufferLength: 10 });
    const names = ['loader', 'pLoader', 'fLoader', 'manifestLoadPolicy', 'playlistLoadPolicy', 'fragLoadPolicy',
      'keyLoadPolicy', 'certLoadPolicy', 'steeringManifestLoadPolicy', 'interstitialAssetListLoadPolicy'];
    const before = names.map((n) => player.config[n]);
    const settings = () => ({ fragErrorRetries: player.config.fragLoadPolicy.default.errorRetry.maxNumRetry,
      fragTimeoutRetries: player.config.fragLoadPolicy.default.timeoutRetry.maxNumRetry,
      playlistErrorRetries: player.config.playlistLoadPolicy.default.errorRetry.maxNumRetry,
      manifestErrorRetries: player.config.manifestLoadPolicy.default.errorRetry.maxNumRetry,
      // The very objects hls.js had: the defaults are shared, the adapter never changes them.
      same: names.every((n, i) => player.config[n] === before[i]) });
    const original = JSON.stringify(settings());
    const handle = attachHls(r, player);
    player.on(Hls.Events.ERROR, (event, data) => errors.push({ at: performance.now(),
      code: data.details, fatal: data.fatal, module: data.networkDetails && data.networkDetails.code }));
    player.attachMedia(video);
    player.loadSource(base + '${U}/start.m3u8?path=/library/metadata/101');
    const load = (url) => player.loadSource(url);
    Object.assign(t, { player, handle, load, settings, original });`,
};

/** A new context and page for `lib`, set up against a fresh fault session. */
async function open(lib) {
  const session = `${lib}-${++sessions}`;
  const context = await browser.newContext();
  const page = await context.newPage();
  const pageErrors = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`http://127.0.0.1:${site.address().port}/`);
  if (lib === 'shaka') await page.addScriptTag({ url: '/lib/shaka-player.compiled.js' });
  await page.evaluate(async ([source, base, reference]) => {
    const { createResilience } = await import('/pkg/index.js');
    const r = createResilience({ enabled: true, persistence: { enabled: false } });
    await r.ready;
    const video = document.querySelector('video');
    const errors = [];
    const t = (window.t = { r, video, errors, base });
    t.plex = () => {
      const service = r.metrics().services.find((s) => s.name === 'plex');
      return Object.fromEntries(service.classes.map((c) => [c.class, { requests: c.requests, rejected: c.rejected }]));
    };
    await new Function('r', 'video', 'errors', 't', 'base', 'reference', `return (async () => { ${source} })()`)(
      r, video, errors, t, base, reference);
  }, [SETUP[lib], `${faults.url}/s/${session}`, REFERENCE_RETRY]);
  return {
    page,
    session,
    pageErrors,
    eval: (body) => page.evaluate((source) => new Function(`return (async () => { ${source} })()`)(), body),
    close: () => context.close(),
  };
}

/** Clicks play, then waits until the video has played to `seconds`. */
async function playTo(p, seconds) {
  await p.page.waitForFunction(() => window.t.video.readyState >= 2, null, { timeout: 20_000 });
  await p.page.click('#play');
  await p.page.waitForFunction((s) => window.t.video.currentTime >= s, seconds, { timeout: 30_000, polling: 100 });
}

/** Polls `check` (an async function returning a truthy value when done) until `ms` have passed. */
async function until(check, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The plex classes' counts in the module and the routes' counts at the server, once they agree. */
async function settled(p) {
  return until(async () => {
    const plex = await p.eval('return window.t.plex();');
    const server = await counts(p.session);
    // `requests` counts the calls; those the open breaker refused never left the page.
    const sent = (c) => c.requests - c.rejected;
    const agree = server.manifest === sent(plex.transcode) + sent(plex.metadata) && server.segment === sent(plex.video);
    return agree && { plex, server };
  }, 10_000, 'the module and the server to count the same requests');
}

const MANIFESTS = { shaka: 0, dashjs: 0, hlsjs: 2 };  // HLS: the video and audio playlists

for (const lib of ['shaka', 'dashjs', 'hlsjs']) {
  test(`${lib}: plays through r.fetch; its manifests and segments are counted under plex with their classes`, async () => {
    const p = await open(lib);
    try {
      await playTo(p, 3);
      const { plex, server } = await settled(p);
      assert.equal(plex.transcode.requests, 1, 'the transcode start (start.mpd / start.m3u8) is transcode');
      assert.equal(plex.metadata.requests, MANIFESTS[lib], 'playlists are metadata');
      assert.ok(plex.video.requests >= 4, `init and media segments of video and audio are video: ${plex.video.requests}`);
      assert.equal(plex.thumbnail.requests + plex.probe.requests, 0);
      for (const c of Object.values(plex)) assert.equal(c.rejected, 0);
      assert.equal(server.manifest + server.segment, server.total, 'every request the server saw was the library\'s');
      const bounded = await p.eval('return window.t.settings();');
      if (lib === 'shaka') {
        for (const k of ['streaming', 'manifest']) {
          assert.deepEqual(bounded[k], { ...REFERENCE_RETRY, stallTimeout: 5000, maxAttempts: 1, connectionTimeout: 0 });
        }
      } else if (lib === 'dashjs') {
        for (const type of ['MPD', 'MediaSegment', 'InitializationSegment', 'IndexSegment', 'other']) {
          assert.equal(bounded.retryAttempts[type], 0, type);
        }
        assert.equal(bounded.retryAttempts.license, 3, 'DRM licences keep their retries');
        // The throughput traces dash.js records from the transport's progress events.
        const request = await p.eval(`const q = window.t.player.getDashMetrics().getCurrentHttpRequest('video');
          return q && { status: q.responsecode, traces: q.trace.length, bytes: q.trace.reduce((a, t) => a + t.b[0], 0) };`);
        assert.equal(request.status, 200);
        assert.ok(request.traces > 0 && request.bytes > 1000, JSON.stringify(request));
      } else {
        assert.deepEqual(bounded, {
          fragErrorRetries: 0, fragTimeoutRetries: 0, playlistErrorRetries: 0, manifestErrorRetries: 0, same: false,
        });
      }
      assert.deepEqual(await p.eval('return window.t.errors;'), []);
      assert.deepEqual(p.pageErrors, []);
    } finally {
      await p.close();
    }
  });

  test(`${lib}: with the breaker isolated, its segment and manifest requests fail at once without reaching the server`, async (t) => {
    const p = await open(lib);
    try {
      await playTo(p, 1);
      // Isolated, then what was in flight done: from here nothing may reach the server.
      await p.eval(`window.t.r.isolate('plex');`);
      const { plex: before, server } = await settled(p);
      // Far past what it holds, so it asks for new segments at once.
      await p.eval(`window.t.video.currentTime = 80;`);
      const failed = await until(async () => {
        const [plex, errors] = await p.eval('return [window.t.plex(), window.t.errors];');
        return plex.video.rejected > 0 && errors.some((e) => e.module === 'BREAKER_OPEN') && { plex, errors };
      }, 15_000, 'a segment request rejected by the open breaker, reported by the library');
      assert.equal(failed.plex.video.requests - failed.plex.video.rejected, before.video.requests - before.video.rejected,
        'every segment request since was refused: none reached the network');

      // A new source while isolated: its manifest fails at once too.
      await p.eval(`window.t.errors.length = 0; window.t.loadedAt = performance.now(); window.t.load(window.t.base + '${U}/start.mpd?path=/library/metadata/102'
        .replace('start.mpd', ${JSON.stringify(lib === 'hlsjs' ? 'start.m3u8' : 'start.mpd')}));`);
      const manifest = await until(async () => {
        const [plex, errors, loadedAt] = await p.eval('return [window.t.plex(), window.t.errors, window.t.loadedAt];');
        const error = errors.find((e) => e.module === 'BREAKER_OPEN');
        return plex.transcode.rejected > 0 && error && { plex, errors, ms: error.at - loadedAt };
      }, 15_000, 'the manifest request rejected by the open breaker, reported by the library');
      if (lib === 'shaka') {
        assert.ok(manifest.errors.some((e) => e.code === 1002 && e.severity === 2), JSON.stringify(manifest.errors));
      } else if (lib === 'dashjs') {
        assert.ok(manifest.errors.some((e) => e.code === 25), 'dash.js: a manifest download error');
      } else {
        assert.ok(manifest.errors.some((e) => e.code === 'manifestLoadError'), 'hls.js: a manifest load error');
      }

      const now = await counts(p.session);
      assert.equal(now.segment, server.segment, 'no segment reached the server while isolated');
      assert.equal(now.manifest, server.manifest, 'no manifest reached the server while isolated');
      // The library's own retries are off: a handful of rejected calls, not a loop.
      const rejected = await p.eval(`const c = window.t.plex(); return c.video.rejected + c.transcode.rejected + c.metadata.rejected;`);
      // With the libraries' default or reference retries there would be more (dash.js:
      // 4 tries a segment, hls.js: 7 a fragment); Shaka stops at a critical error.
      t.diagnostic(`${lib}: ${rejected} calls refused; the manifest's error came ${manifest.ms.toFixed(0)} ms after the load`);
      assert.ok(rejected <= 6, `refused calls: ${rejected}`);
      assert.ok(manifest.ms < 2000, `the manifest failed ${manifest.ms} ms after the load`);
      assert.deepEqual(p.pageErrors, []);
    } finally {
      await p.close();
    }
  });

  test(`${lib}: dispose restores its settings and transport; its requests then reach the server uncounted`, async () => {
    const p = await open(lib);
    try {
      await playTo(p, 1);
      const { plex: before, server } = await settled(p);
      const restored = await p.eval(`
        window.t.handle.dispose();
        window.t.handle.dispose();  // twice is fine
        window.t.r.isolate('plex');  // the module would refuse them all: they must not go through it
        const restored = JSON.stringify(window.t.settings()) === window.t.original;
        window.t.video.currentTime = 80;
        return restored;`);
      assert.ok(restored, 'the library\'s own settings are back');
      await until(async () => (await counts(p.session)).segment > server.segment, 15_000,
        'segment requests reaching the server after dispose');
      const plex = await p.eval('return window.t.plex();');
      assert.deepEqual(plex, before, 'the module counted none of them');
      assert.deepEqual(p.pageErrors, []);
    } finally {
      await p.close();
    }
  });
}


// The transport's contract, below playback: a byte range, the headers and progress
// the library's bandwidth estimate uses, the response's uri / headers / status, and
// abort of a request the server never answers.
test('shaka: through Shaka\'s NetworkingEngine, Range, headers, progress, the response and abort keep working', async () => {
  const p = await open('shaka');
  const session = p.session;
  try {
    await settled(p);  // its own start and segments in: the transcode session 101-1 is live
    await p.eval('await window.t.player.unload();');  // the player asks for nothing more
    await fetch(`${faults.url}/__fault/set?session=${session}&route=segment&mode=hang`);
    const result = await p.eval(`
      const { r, base } = window.t;
      const { attachShaka } = await import('/pkg/shaka.js');
      const Engine = shaka.net.NetworkingEngine;
      const progress = [];
      const headers = [];
      const engine = new Engine((ms, bytes) => progress.push(bytes), (h) => headers.push(h));
      engine.configure(window.t.player.getConfiguration().networking);
      // A stand-in player around this engine: attachShaka needs only these.
      const retry = { retryParameters: Engine.defaultRetryParameters() };
      const handle = attachShaka(r, { getNetworkingEngine: () => engine, getConfiguration: () => ({ streaming: retry, manifest: retry }),
        configure: () => true }, { shaka });
      const url = base + '${U}/session/101-1/chunk-0-001.m4s';
      const before = window.t.plex().video;
      // The segment route hangs from here: an aborted request must end at once.
      const hung = engine.request(Engine.RequestType.SEGMENT, Engine.makeRequest([url], Engine.defaultRetryParameters()));
      const abortedAt = performance.now();
      setTimeout(() => hung.abort(), 200);
      const aborted = await hung.promise.then(() => null, (e) => ({ code: e.code, ms: performance.now() - abortedAt }));
      handle.dispose();
      return { aborted, before, after: window.t.plex().video };`);
    assert.equal(result.aborted.code, 7001, 'OPERATION_ABORTED');
    assert.ok(result.aborted.ms < 1500, `aborted after ${result.aborted.ms} ms`);
    assert.equal(result.after.requests, result.before.requests + 1, 'the hung request went through the module');

    await fetch(`${faults.url}/__fault/set?session=${session}&route=segment&mode=healthy`);
    const ranged = await p.eval(`
      const { r, base } = window.t;
      const { attachShaka } = await import('/pkg/shaka.js');
      const Engine = shaka.net.NetworkingEngine;
      const progress = [];
      const headers = [];
      const engine = new Engine((ms, bytes) => progress.push(bytes), (h) => headers.push(h));
      engine.configure(window.t.player.getConfiguration().networking);
      const retry = { retryParameters: Engine.defaultRetryParameters() };
      const handle = attachShaka(r, { getNetworkingEngine: () => engine, getConfiguration: () => ({ streaming: retry, manifest: retry }),
        configure: () => true }, { shaka });
      const url = base + '${U}/session/101-1/chunk-0-001.m4s';
      const before = window.t.plex().video.requests;
      const request = Engine.makeRequest([url], Engine.defaultRetryParameters());
      request.headers.Range = 'bytes=100-1099';
      const response = await engine.request(Engine.RequestType.SEGMENT, request).promise;
      handle.dispose();
      return { status: response.status, length: response.data.byteLength, range: response.headers['content-range'],
        uri: response.uri === url, progress: progress.reduce((a, b) => a + b, 0), headers: headers.length,
        counted: window.t.plex().video.requests - before };`);
    assert.deepEqual(ranged, {
      status: 206, length: 1000, range: 'bytes 100-1099/11248', uri: true, progress: 1000, headers: 1, counted: 1,
    });
    assert.deepEqual(p.pageErrors, []);
  } finally {
    await p.close();
  }
});

test('hlsjs: its loader keeps Range, stats, headers and abort', async () => {
  const p = await open('hlsjs');
  const session = p.session;
  try {
    await settled(p);
    await p.eval('window.t.player.stopLoad();');  // the player asks for nothing more
    const ranged = await p.eval(`
      const { player, base } = window.t;
      const loader = new player.config.fLoader(player.config);
      const url = base + '${U}/session/101-1/base/chunk-0-001.m4s';
      const before = window.t.plex().video.requests;
      const done = await new Promise((resolve) => loader.load(
        { url, responseType: 'arraybuffer', rangeStart: 100, rangeEnd: 1100, headers: {} },
        { loadPolicy: player.config.fragLoadPolicy.default, timeout: 10000, maxRetry: 0, retryDelay: 0, maxRetryDelay: 0,
          highWaterMark: Infinity },
        { onSuccess: (response, stats) => resolve({ ok: true, length: response.data.byteLength, code: response.code,
            loaded: stats.loaded, total: stats.total, ordered: stats.loading.start <= stats.loading.first
              && stats.loading.first <= stats.loading.end && stats.loading.start > 0,
            range: loader.getResponseHeader('content-range') }),
          onError: (e) => resolve({ error: e }), onTimeout: () => resolve({ timeout: true }) }));
      return { ...done, counted: window.t.plex().video.requests - before };`);
    assert.deepEqual(ranged, {
      ok: true, length: 1000, code: 206, loaded: 1000, total: 1000, ordered: true, range: 'bytes 100-1099/11248', counted: 1,
    });

    await fetch(`${faults.url}/__fault/set?session=${session}&route=segment&mode=hang`);
    const aborted = await p.eval(`
      const { player, base } = window.t;
      const loader = new player.config.fLoader(player.config);
      const calls = [];
      const startedAt = performance.now();
      await new Promise((resolve) => {
        loader.load({ url: base + '${U}/session/101-1/base/chunk-0-002.m4s', responseType: 'arraybuffer', headers: {} },
          { loadPolicy: player.config.fragLoadPolicy.default, timeout: 10000, maxRetry: 0, retryDelay: 0, maxRetryDelay: 0,
            highWaterMark: Infinity },
          { onSuccess: () => calls.push('success'), onError: () => calls.push('error'), onTimeout: () => calls.push('timeout'),
            onAbort: (stats) => { calls.push('abort:' + stats.aborted); resolve(); } });
        setTimeout(() => loader.abort(), 200);
      });
      await new Promise((resolve) => setTimeout(resolve, 300));  // nothing else comes after the abort
      return { calls, ms: performance.now() - startedAt };`);
    assert.deepEqual(aborted.calls, ['abort:true']);
    assert.deepEqual(p.pageErrors, []);
  } finally {
    await p.close();
  }
});
