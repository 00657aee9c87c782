// The package in the reference frontend's toolchain: a Vite 5 + React 18 app with
// Vite's default config (this folder), the tarball `npm pack` makes from pkg/
// installed into it, then `vite build` + `vite preview`, and the Vite dev server
// (whose dependency optimiser once choked on the entry), each driven in headless
// Chromium with the browser's default autoplay policy.
// Run by `npm test` after `npm run build`: node --test tests/vite-react/
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startFaultServer } from '../../www/fault-server.mjs';
import { installApp, launchChromium, packPackage, startVite, stopAll } from '../support.mjs';

const app = new URL('.', import.meta.url).pathname;
let faults, browser, packed;

before(async () => {
  packed = packPackage(join(app, '../../pkg'));
  installApp(app, packed.tarball);
  execFileSync(process.execPath, [join(app, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' });
  faults = await startFaultServer({ port: 0 });
  // Chromium's default autoplay policy: the video plays with sound after a click.
  browser = await launchChromium();
});

after(async () => {
  await stopAll();
  await browser?.close();
  await faults?.close();
  packed?.remove();
});

/**
 * Counts, in the page, what could leak: pending timeouts and intervals, the
 * module's event listeners on any target, open BroadcastChannels (and how many
 * were ever opened: one per started instance), and Web Locks of the fixture's key.
 */
function countLeaks() {
  const timers = new Set();
  const [st, ct, si, ci] = [window.setTimeout, window.clearTimeout, window.setInterval, window.clearInterval];
  window.setTimeout = (fn, ms, ...args) => {
    const id = st((...a) => {
      timers.delete(id);
      if (typeof fn === 'function') fn(...a);
    }, ms, ...args);
    timers.add(id);
    return id;
  };
  window.clearTimeout = (id) => (timers.delete(id), ct(id));
  window.setInterval = (...args) => {
    const id = si(...args);
    timers.add(id);
    return id;
  };
  window.clearInterval = (id) => (timers.delete(id), ci(id));

  // The module's own listeners: wasm-bindgen closures (they carry `_wbg_cb_unref`).
  const listeners = new Map();
  const watched = (listener) => typeof listener?._wbg_cb_unref === 'function';
  const key = (type, listener, options) => [type, typeof options === 'boolean' ? options : !!options?.capture, listener];
  const { addEventListener: add, removeEventListener: remove } = EventTarget.prototype;
  EventTarget.prototype.addEventListener = function (type, listener, options) {
    if (watched(listener)) {
      const list = listeners.get(this) ?? [];
      const [t, c, l] = key(type, listener, options);
      if (!list.some(([t2, c2, l2]) => t2 === t && c2 === c && l2 === l)) list.push([t, c, l]);
      listeners.set(this, list);
    }
    return add.call(this, type, listener, options);
  };
  EventTarget.prototype.removeEventListener = function (type, listener, options) {
    const list = listeners.get(this);
    if (list) {
      const [t, c, l] = key(type, listener, options);
      const i = list.findIndex(([t2, c2, l2]) => t2 === t && c2 === c && l2 === l);
      if (i >= 0) list.splice(i, 1);
    }
    return remove.call(this, type, listener, options);
  };

  const open = new Set();
  let opened = 0;
  const Channel = window.BroadcastChannel;
  window.BroadcastChannel = class extends Channel {
    constructor(name) {
      super(name);
      opened++;
      open.add(this);
    }
    close() {
      open.delete(this);
      return super.close();
    }
  };

  window.leaks = async () => {
    const locks = await navigator.locks.query();
    const ours = [...locks.held, ...locks.pending].filter((l) => l.name.startsWith('vite-fixture'));
    return {
      timers: timers.size,
      listeners: [...listeners.entries()].flatMap(([target, list]) => list.map(([type]) => `${target.constructor.name}:${type}`)).sort(),
      channels: open.size,
      locks: ours.length,
      opened,
    };
  };
}

/** Polls `fn` in the page until it returns a truthy value; fails after `ms`. */
async function until(page, fn, arg, ms = 15_000) {
  const handle = await page.waitForFunction(fn, arg, { timeout: ms, polling: 100 });
  return handle.jsonValue();
}

/** The player's whole life in the app at `url`: mount, fetch, play, re-render, unmount. */
async function playerLifecycle(url, session) {
  const context = await browser.newContext();
  await context.addInitScript(countLeaks);
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && errors.push(`${r.status()} ${r.url()}`));
  try {
    const server = `${faults.url}/s/${session}`;
    await page.goto(`${url}/?server=${encodeURIComponent(server)}`);
    await page.waitForSelector('#mount');
    const baseline = await page.evaluate(() => window.leaks());

    // Mount: in StrictMode the first instance is disposed before it starts.
    await page.click('#mount');
    await until(page, () => window.fixture?.r?.enabled && document.querySelector('#attached').textContent === 'attached 101');
    await page.evaluate(() => window.fixture.r.ready);
    const metadata = await until(page, () => {
      const text = document.querySelector('#metadata').textContent;
      return text !== 'loading' && text;
    });
    assert.equal(metadata, 'Fault server video 101', 'the metadata came through r.fetch');
    const mounted = await page.evaluate(() => window.leaks());
    assert.equal(mounted.opened, 1, 'one instance started (StrictMode\'s first one never did)');
    assert.equal(mounted.channels, 1);
    assert.ok(mounted.locks >= 1, 'the instance joined the prober election');
    const metadataRequests = await page.evaluate(() => window.fixture.r.metrics().services
      .find((s) => s.name === 'api').classes.find((c) => c.class === 'metadata').requests);
    assert.ok(metadataRequests >= 1, 'the module saw the metadata request');

    // Play with sound after a click, as a person would.
    await page.click('#play');
    const playing = await until(page, () => {
      const v = document.querySelector('video');
      return v.currentTime > 0.3 && !v.paused && { muted: v.muted, state: window.fixture.handle.state };
    });
    assert.deepEqual(playing, { muted: false, state: 'healthy' });

    // Re-renders with new config objects, callbacks and a cache-busting src change nothing.
    const before = await page.evaluate(() => {
      window.first = { r: window.fixture.r, handle: window.fixture.handle, src: document.querySelector('video').src };
      return window.fixture.renders;
    });
    for (let i = 0; i < 20; i++) await page.click('#rerender');
    const after = await page.evaluate(() => ({
      renders: window.fixture.renders,
      sameInstance: window.fixture.r === window.first.r,
      sameHandle: window.fixture.handle === window.first.handle,
      sameSrc: document.querySelector('video').src === window.first.src,
    }));
    assert.deepEqual(after, { renders: before + 20, sameInstance: true, sameHandle: true, sameSrc: true });
    const log = await (await fetch(`${faults.url}/__fault/log?session=${session}`)).json();
    const sources = new Set(log.filter((e) => e.route === 'video').map((e) => new URL(e.path, 'http://x').searchParams.get('t')));
    assert.equal(sources.size, 1, 'one video source was ever requested');

    // Unmount: everything the module made is gone.
    await page.click('#mount');
    const keys = ['timers', 'listeners', 'channels', 'locks'];
    const pick = (o) => Object.fromEntries(keys.map((k) => [k, o[k]]));
    let settled;
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      settled = await page.evaluate(() => window.leaks());
      if (JSON.stringify(pick(settled)) === JSON.stringify(pick(baseline))) break;
    }
    assert.deepEqual(pick(settled), pick(baseline), 'nothing left after unmount');
    assert.deepEqual(errors, []);
  } finally {
    await context.close();
  }
}

test('vite build + preview: StrictMode, fetch, video, re-renders and unmount', async () => {
  const server = await startVite(app, ['preview']);
  try {
    await playerLifecycle(server.url, 'vite-build');
  } finally {
    await server.stop();
  }
});

test('vite dev server (dependency optimiser): StrictMode, fetch, video, re-renders and unmount', async () => {
  const server = await startVite(app, ['--force']);
  try {
    await playerLifecycle(server.url, 'vite-dev');
  } finally {
    await server.stop();
  }
});
