// The package's entry: `import { createResilience } from 'player-resilience'`.
//
// No top-level await, so it works with any bundler's default target (Vite's
// es2020 set among them) and on a server: the wasm is fetched on the first
// `createResilience` or `validateConfig`, from the file next to this one. An
// instance answers at once; what it cannot do before the wasm is running waits
// for it (`fetch`) or is done when it starts (listeners, videos, toasts).
import init, * as wasm from './player_resilience.js';

/** What `on` accepts: the same list as the wasm's (the package test checks). */
const EVENT_NAMES = ['notice', 'state', 'retry', 'probe', 'metrics', 'fallback'];

/** Whether this is a page (not a server render, not a plain Node process). */
const inBrowser = typeof window !== 'undefined' && typeof document !== 'undefined';

let loading = null;

/** Loads and starts the wasm once per page; a failed load is tried again next time. */
function loadWasm() {
  if (!inBrowser) {
    return Promise.reject(loadError('it needs a browser (no window or document here)'));
  }
  if (!loading) {
    loading = init({ module_or_path: wasmResponse() }).then(
      () => undefined,
      (cause) => {
        loading = null;
        throw loadError(`the WebAssembly module could not be loaded (${cause && cause.message})`, cause);
      },
    );
  }
  return loading;
}

/** The wasm, fetched from next to this file: bundlers see the URL and ship the file. */
function wasmResponse() {
  let url = new URL('./player_resilience_bg.wasm', import.meta.url);
  if (url.pathname.includes('/.vite/deps/')) {
    // Vite's dev server pre-bundles dependencies into node_modules/.vite/deps/
    // without their assets (vitejs/vite#8427): the wasm is still in the package.
    url = new URL(url.pathname.replace(/\.vite\/deps\/[^/]*$/, 'player-resilience/player_resilience_bg.wasm'), url);
  }
  return fetch(url);
}

/** A `LOAD` error: the module cannot run here; the instance is a pass-through. */
function loadError(reason, cause) {
  const error = new Error(`player-resilience: ${reason}; running as a pass-through`);
  error.name = 'ResilienceError';
  error.code = 'LOAD';
  if (cause !== undefined) error.cause = cause;
  return error;
}

/**
 * Creates the module for a player. Returns at once; `ready` resolves when it
 * runs. An invalid config rejects `ready` and every `fetch` with the `CONFIG`
 * error (and is logged); a wasm that cannot load (or a server render) makes a
 * pass-through.
 */
export function createResilience(config) {
  return new Resilience(config);
}

/** Checks a config without starting anything: rejects with the `CONFIG` error. */
export function validateConfig(config) {
  return loadWasm().then(() => wasm.validateConfig(config));
}

class Resilience {
  constructor(config) {
    /** The running wasm instance (also when disabled); null before it starts or if it cannot. */
    this._module = null;
    /** The CONFIG error, if the config is invalid. */
    this._error = null;
    this._failed = false;
    this._disposed = false;
    /** Listeners, videos and toasts waiting for the start. */
    this._listeners = new Set();
    this._videos = new Set();
    this._toasts = new Set();
    this._wantsOn = config != null && config.enabled === true;
    this.ready = this._start(config);
    // `ready` may be ignored: its failure still reaches fetch, the console and `enabled`.
    this.ready.catch(() => {});
  }

  _start(config) {
    if (!inBrowser) {
      this._failed = true;
      return Promise.resolve();
    }
    return loadWasm().then(
      () => {
        if (this._disposed) return;
        try {
          this._module = wasm.createResilience(config);
        } catch (error) {
          this._error = error;
          this._fail();
          console.error('player-resilience: invalid config;', error.message);
          throw error;
        }
        for (const entry of this._listeners) entry.off = this._module.on(entry.name, entry.listener);
        for (const video of this._videos) video._attach(this._module);
        for (const toasts of this._toasts) toasts.stop = this._module.renderToasts(toasts.container);
        this._videos.clear();
        this._toasts.clear();
      },
      (error) => {
        this._fail();
        console.warn(error.message);
        throw error;
      },
    );
  }

  /** The start failed: waiting videos load as a disabled module would. */
  _fail() {
    this._failed = true;
    for (const video of this._videos) video._attach(null);
    this._videos.clear();
    this._toasts.clear();
  }

  /** Whether the module is on: enabled, starting or running, and not disposed. */
  get enabled() {
    if (this._module) return this._module.enabled;
    return this._wantsOn && !this._failed && !this._disposed;
  }

  /** `fetch` with timeouts, retries and breakers; waits for the start. */
  fetch(input, init) {
    if (this._module) return this._module.fetch(input, init);
    if (this._error) return Promise.reject(this._error);
    if (this._failed || this._disposed) return fetch(input, init);
    return this.ready.then(
      () => this.fetch(input, init),
      () => this.fetch(input, init),
    );
  }

  /** Listens to an event (also before the start); returns a function that unsubscribes. */
  on(name, listener) {
    if (!EVENT_NAMES.includes(name)) {
      throw new TypeError(`unknown event '${name}'; expected one of ${EVENT_NAMES.join(', ')}`);
    }
    if (typeof listener !== 'function') throw new TypeError('on: the listener must be a function');
    if (this._disposed) return () => {};
    const entry = { name, listener, off: this._module ? this._module.on(name, listener) : null };
    this._listeners.add(entry);
    return () => {
      this._listeners.delete(entry);
      if (entry.off) entry.off();
    };
  }

  /** The breakers' state (empty before the start). */
  snapshot() {
    return this._module ? this._module.snapshot() : { version: 1, savedAt: Date.now(), services: [] };
  }

  /** Counters and latencies; null before the start or when disabled. */
  metrics() {
    return this._module ? this._module.metrics() : null;
  }

  /** Closes a breaker by hand; false before the start or for an unknown service. */
  reset(service) {
    return this._module ? this._module.reset(service) : false;
  }

  /** Holds a breaker open; false before the start or for an unknown service. */
  isolate(service) {
    return this._module ? this._module.isolate(service) : false;
  }

  /** Probes every open breaker now. */
  retryNow() {
    if (this._module) this._module.retryNow();
  }

  /** Watches a `<video>` (see the README); before the start, from when it starts. */
  attachVideo(video, options) {
    if (typeof HTMLVideoElement === 'undefined' || !(video instanceof HTMLVideoElement)) {
      throw new TypeError('attachVideo: the first argument must be a <video> element');
    }
    const handle = new VideoHandle(this, video, options);
    if (this._module) handle._attach(this._module, true);
    else if (this._failed || this._disposed) handle._attach(null);
    else this._videos.add(handle);
    return handle;
  }

  /** Shows notices as toasts; returns a function that removes them. */
  renderToasts(container) {
    if (this._module) return this._module.renderToasts(container);
    const toasts = { container, stop: null };
    if (!this._failed && !this._disposed) this._toasts.add(toasts);
    return () => {
      this._toasts.delete(toasts);
      if (toasts.stop) toasts.stop();
    };
  }

  /** Stops everything; before the start, nothing starts. */
  dispose() {
    this._disposed = true;
    for (const video of this._videos) video.dispose();
    this._videos.clear();
    this._toasts.clear();
    this._listeners.clear();
    if (this._module) this._module.dispose();
  }

  /** Disposes and frees the wasm memory. */
  free() {
    this.dispose();
    if (this._module) this._module.free();
    this._module = null;
  }
}

/** A watched video; before the instance starts, it holds the page's calls. */
class VideoHandle {
  constructor(r, video, options) {
    this._r = r;
    this._video = video;
    this._options = options;
    this._handle = null;
    /** The item `preload` named before the start. */
    this._preload = null;
    this._disposed = false;
    /** The start failed: media is loaded as a disabled module would. */
    this._unwatched = false;
    this._settle = null;
    /** Resolves when the video is watched (or loaded unwatched); rejects with its option error. */
    this.ready = new Promise((resolve, reject) => (this._settle = { resolve, reject }));
    this.ready.catch(() => {});
  }

  /**
   * Attaches to a running module (the player's requests through `r.fetch`
   * first), or, with none or a disabled one, loads the media as the page would.
   */
  _attach(module, throws = false) {
    if (this._disposed) return this._settle.resolve();
    const player = this._options && this._options.player;
    let attached = false;
    try {
      if (module && module.enabled) {
        if (player && typeof player.attach === 'function') {
          player.attach(this._r);
          attached = true;
        }
        this._handle = module.attachVideo(this._video, this._options);
        if (this._preload) this._handle.preload(this._preload);
      } else this._unwatched = true;
      if (this._unwatched && this._options && this._options.media) this._loadUnwatched(this._options.media);
      this._settle.resolve();
    } catch (error) {
      if (attached && typeof player.detach === 'function') player.detach();
      this._settle.reject(error);
      if (throws) throw error;
      console.error('player-resilience: attachVideo;', error.message);
    }
  }

  /** Unwatched: the element's `src`, or the player's `load` (an absolute URL, as when watched), as the page would. */
  _loadUnwatched(media) {
    const player = this._options && this._options.player;
    const use = (url) => (player ? player.load(new URL(url, this._video.baseURI).href, 0) : (this._video.src = url));
    const fail = (error) => console.error('player-resilience: load;', error && error.message);
    // A URL is used at once (the element's src set before load() returns); a function's may come later.
    const src = media.src;
    new Promise((resolve) => resolve(typeof src === 'function' ? Promise.resolve(src('load')).then(use) : use(src))).catch(fail);
  }

  /** Switches to another media item; before the start, it is the one to load. */
  load(media) {
    if (this._handle) return this._handle.load(media);
    if (!media || !['string', 'function'].includes(typeof media.src)) {
      throw new TypeError('load: media must be { id, src, poster? }');
    }
    this._options = { ...this._options, media };
    if (this._unwatched) this._loadUnwatched(media);
  }

  /** Warms the fallback for the item played next `{ id, poster? }`; before the start, remembered. */
  preload(item) {
    if (this._handle) return this._handle.preload(item);
    if (!item || typeof item.id !== 'string') throw new TypeError('preload: item must be { id, poster? }');
    this._preload = item;
  }

  /** `healthy`, `stalled`, `fallback` or `resuming`. */
  get state() {
    return this._handle ? this._handle.state : 'healthy';
  }

  /** The current media item's id. */
  get mediaId() {
    if (this._handle) return this._handle.mediaId;
    return this._options && this._options.media ? this._options.media.id : undefined;
  }

  /** Stops watching; the element keeps its source. */
  dispose() {
    this._disposed = true;
    if (this._handle) this._handle.dispose();
  }
}
