// hls.js's requests through the breaker: `player-resilience/hlsjs`.
//
// hls.js makes a loader object for each request from the classes in its config
// (`pLoader` for playlists, `fLoader` for fragments, `loader` for the rest), read
// from `hls.config` at every request. This file puts loader classes built on
// `r.fetch` there while attached, and puts the originals back on dispose.
//
// No top-level await, no import of hls.js.

/** hls.js's load policies, bounded while attached. */
const POLICIES = ['manifestLoadPolicy', 'playlistLoadPolicy', 'fragLoadPolicy', 'keyLoadPolicy', 'certLoadPolicy',
  'steeringManifestLoadPolicy', 'interstitialAssetListLoadPolicy'];

/**
 * Routes every request an `Hls` instance makes (the manifest, level and track
 * playlists, init and media fragments, keys) through `r.fetch`, and sets hls.js's
 * own retries to 0 while attached. Call it after `new Hls(config)`, before
 * `loadSource()`.
 *
 * @param {{ fetch: typeof fetch, enabled: boolean }} r the module's instance (`createResilience(...)`)
 * @param {{ config: object }} hls an `Hls` instance
 * @param {{ onFailure?: (failure: { status?: number, code?: string }) => void }} [options]
 *   `onFailure`: called for each request that failed (the status of an error answer, or the module's error code)
 * @returns {{ dispose(): void }} undoes everything: loaders and load policies
 */
export function attachHls(r, hls, options) {
  if (!r || typeof r.fetch !== 'function') throw new TypeError('attachHls: r must be a createResilience() instance');
  const config = hls && hls.config;
  if (!config || typeof config.loader !== 'function') {
    throw new TypeError('attachHls: hls must be an Hls instance (new Hls(config))');
  }
  // Disabled: a pure pass-through, nothing is touched.
  if (!r.enabled) return { dispose() {} };

  const attachment = { r, active: true, onFailure: options && options.onFailure };
  const saved = { loader: config.loader, pLoader: config.pLoader, fLoader: config.fLoader };
  for (const name of POLICIES) saved[name] = config[name];

  config.loader = resilientLoader(attachment, saved.loader);
  config.pLoader = resilientLoader(attachment, saved.pLoader || saved.loader);
  config.fLoader = resilientLoader(attachment, saved.fLoader || saved.loader);
  for (const name of POLICIES) {
    const policy = config[name];
    if (policy && policy.default) config[name] = { ...policy, default: boundPolicy(policy.default) };
  }

  return {
    dispose() {
      if (!attachment.active) return;
      attachment.active = false;
      Object.assign(config, saved);
    },
  };
}

/**
 * A load policy without retries: `r.fetch` retries (with backoff, jitter,
 * `Retry-After` and its budget). New objects: hls.js's defaults are shared.
 */
function boundPolicy(policy) {
  const none = (retry) => (retry ? { ...retry, maxNumRetry: 0 } : retry);
  return { ...policy, timeoutRetry: none(policy.timeoutRetry), errorRetry: none(policy.errorRetry) };
}

/**
 * A loader class for hls.js built on `r.fetch`. While the attachment is off (or
 * the module disabled), `new` gives the original loader instead.
 *
 * What it does, as hls.js's own loaders do: `stats` (loading start / first / end,
 * loaded and total as the body arrives, so the ABR controller can estimate the
 * bandwidth and abandon a slow fragment), `Range` from the context's byte range,
 * progressive chunks (`onProgress` with `highWaterMark`), `abort()`, `destroy()`,
 * `getResponseHeader`, `getCacheAge`, `fetchSetup`. The time to the headers is the
 * module's (class timeouts, counted against the breaker); the policy's
 * `maxLoadTimeMs` bounds the rest of the load and ends it with `onTimeout`. A
 * module error reaches hls.js as `onError` (`{ code, text }`, `code` 0 or the last
 * status) with the error as network details, or `onTimeout` for `TIMEOUT`.
 */
function resilientLoader(attachment, Original) {
  return class ResilientLoader {
    constructor(config) {
      if (!attachment.active || !attachment.r.enabled) {
        // eslint-disable-next-line no-constructor-return
        return new Original(config);
      }
      this.hlsConfig = config;
      this.context = null;
      this.config = null;
      this.callbacks = null;
      this.response = null;
      this.controller = null;
      this.reader = null;
      this.timer = null;
      this.done = false;
      this.stats = {
        aborted: false, loaded: 0, retry: 0, total: 0, chunkCount: 0, bwEstimate: 0,
        loading: { start: 0, first: 0, end: 0 },
        parsing: { start: 0, end: 0 },
        buffering: { start: 0, first: 0, end: 0 },
      };
    }

    load(context, config, callbacks) {
      const stats = this.stats;
      if (stats.loading.start) throw new Error('Loader can only be used once.');
      stats.loading.start = performance.now();
      this.context = context;
      this.config = config;
      this.callbacks = callbacks;
      this.controller = new AbortController();
      const headers = { ...context.headers };
      if (context.rangeEnd) headers.Range = `bytes=${context.rangeStart}-${context.rangeEnd - 1}`;
      const init = { method: 'GET', headers, signal: this.controller.signal };
      const setup = this.hlsConfig && this.hlsConfig.fetchSetup;
      Promise.resolve(setup ? setup(context, { ...init, headers: new Headers(headers) }) : context.url)
        .then((input) => attachment.r.fetch(input, setup ? { signal: init.signal } : init))
        .then((response) => this.receive(response), (error) => this.fail(error));
    }

    async receive(response) {
      const { stats, context, config } = this;
      if (this.done || !context) {
        response.body?.cancel().catch(() => {});
        return;
      }
      this.response = response;
      stats.loading.first = Math.max(performance.now(), stats.loading.start);
      const maxLoadTimeMs = config.loadPolicy ? config.loadPolicy.maxLoadTimeMs : config.timeout;
      if (maxLoadTimeMs > 0 && Number.isFinite(maxLoadTimeMs)) {
        this.timer = setTimeout(() => this.timeout(), maxLoadTimeMs);
      }
      if (!response.ok) {
        response.body?.cancel().catch(() => {});
        this.end();
        failed(attachment, { status: response.status });
        this.callbacks.onError({ code: response.status, text: response.statusText || 'bad network response' },
          context, response, stats);
        return;
      }
      stats.total = contentLength(response.headers) || stats.total;
      const onProgress = this.callbacks.onProgress;
      const progressive = onProgress && Number.isFinite(config.highWaterMark);
      let bytes;
      try {
        bytes = await this.read(response, progressive ? config.highWaterMark : null);
      } catch (error) {
        if (this.done) return;
        this.end();
        this.callbacks.onError({ code: 0, text: String(error && error.message) }, context, response, stats);
        return;
      }
      if (this.done) return;
      this.end();
      stats.loading.end = Math.max(performance.now(), stats.loading.first);
      let data;
      if (progressive) data = new ArrayBuffer(0);
      else if (context.responseType === 'arraybuffer') data = bytes.buffer;
      else data = new TextDecoder().decode(bytes);
      if (context.responseType === 'json' && !progressive) {
        try {
          data = JSON.parse(data);
        } catch (error) {
          this.callbacks.onError({ code: response.status, text: `JSON: ${error.message}` }, context, response, stats);
          return;
        }
      }
      if (!progressive && bytes.byteLength) stats.loaded = stats.total = bytes.byteLength;
      if (onProgress && !progressive) onProgress(stats, context, data, response);
      this.callbacks.onSuccess({ url: response.url, data, code: response.status }, stats, context, response);
    }

    /** Reads the body, counting it in `stats`; with `highWaterMark`, hands chunks of it to `onProgress`. */
    async read(response, highWaterMark) {
      const stats = this.stats;
      if (!response.body) {
        const all = new Uint8Array(await response.arrayBuffer());
        stats.loaded = all.byteLength;
        return all;
      }
      const reader = (this.reader = response.body.getReader());
      const chunks = [];
      let pending = [];
      let pendingBytes = 0;
      const flush = () => {
        if (pendingBytes) this.callbacks.onProgress(stats, this.context, join(pending, pendingBytes).buffer, response);
        pending = [];
        pendingBytes = 0;
      };
      for (;;) {
        const { done, value } = await reader.read();
        if (done || this.done) break;
        stats.loaded += value.byteLength;
        stats.chunkCount++;
        if (highWaterMark === null) {
          chunks.push(value);
        } else {
          pending.push(value);
          pendingBytes += value.byteLength;
          if (pendingBytes >= highWaterMark) flush();
        }
      }
      if (highWaterMark !== null) {
        if (!this.done) flush();
        return new Uint8Array(0);
      }
      return join(chunks, stats.loaded);
    }

    fail(error) {
      if (this.done || !this.context) return;
      this.end();
      failed(attachment, { status: error && error.status, code: error && error.code });
      if (error && error.code === 'TIMEOUT') {
        this.callbacks.onTimeout(this.stats, this.context, error);
        return;
      }
      const code = (error && error.code === 'RETRIES_EXHAUSTED' && error.status) || 0;
      const text = error ? `${error.code || error.name}: ${error.message}` : 'error';
      this.callbacks.onError({ code, text }, this.context, error, this.stats);
    }

    timeout() {
      if (this.done) return;
      this.cancel();
      this.callbacks.onTimeout(this.stats, this.context, this.response);
    }

    /** The load is over: no timer, nothing more from it. */
    end() {
      this.done = true;
      clearTimeout(this.timer);
    }

    /** Stops the request or its body. */
    cancel() {
      this.end();
      if (this.controller) this.controller.abort();
      if (this.reader) this.reader.cancel().catch(() => {});
    }

    abort() {
      if (this.done) return;
      this.stats.aborted = true;
      this.cancel();
      if (this.callbacks && this.callbacks.onAbort) {
        this.callbacks.onAbort(this.stats, this.context, this.response);
      }
    }

    destroy() {
      if (!this.done) {
        this.stats.aborted = true;
        this.cancel();
      }
      this.callbacks = null;
      this.context = null;
      this.config = null;
      this.response = null;
    }

    getCacheAge() {
      const age = this.response && this.response.headers.get('age');
      return age ? parseFloat(age) : null;
    }

    getResponseHeader(name) {
      return this.response ? this.response.headers.get(name) : null;
    }
  };
}

/** Tells the attachment's `onFailure` (if any) that a request failed. */
function failed(attachment, failure) {
  if (attachment.onFailure) attachment.onFailure(failure);
}

/** The body's length: from `Content-Range` for a range, else `Content-Length`. */
function contentLength(headers) {
  const range = /(\d+)-(\d+)\/(\d+)/.exec(headers.get('content-range') || '');
  if (range) return parseInt(range[2], 10) - parseInt(range[1], 10) + 1;
  const length = headers.get('content-length');
  return length ? parseInt(length, 10) : 0;
}

/** The chunks as one Uint8Array. */
function join(chunks, length) {
  const data = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data;
}

/**
 * The adapter for `attachVideo(video, { player: hlsPlayer(hls) })`: the module
 * loads (`loadSource` from a start position), unloads (`stopLoad`, `detachMedia`)
 * and reloads the item through the `Hls` instance (attached to the watched
 * `<video>`), routes its requests through `r.fetch` while watched (as
 * `attachHls`), and hears its errors.
 *
 * @param {object} hls an `Hls` instance, `attachMedia(video)`d
 * @returns {import('./index.js').PlayerAdapter}
 */
export function hlsPlayer(hls) {
  if (!hls || !hls.config || typeof hls.loadSource !== 'function' || typeof hls.on !== 'function') {
    throw new TypeError('hlsPlayer: hls must be an Hls instance (new Hls(config))');
  }
  const listeners = new Set();
  const startPosition = hls.config.startPosition;
  let media = hls.media;
  let pending = null;
  let routing = null;
  const settle = (outcome) => {
    if (!pending) return;
    const { resolve, reject, off } = pending;
    pending = null;
    off();
    if (outcome) reject(outcome);
    else resolve();
  };
  return {
    attach(r) {
      if (!routing) {
        const onFailure = (failure) => listeners.forEach((listener) => listener({ fatal: false, ...failure }));
        routing = attachHls(r, hls, { onFailure });
      }
    },
    load(url, startSeconds) {
      settle({ fatal: false, code: 'ABORTED', message: 'another load began' });
      return new Promise((resolve, reject) => {
        const ready = () => settle(null);
        const failed = (event, data) => {
          if (data.fatal) settle(hlsError(data));
        };
        hls.on('hlsManifestParsed', ready);
        hls.on('hlsError', failed);
        pending = {
          resolve,
          reject,
          off: () => {
            hls.off('hlsManifestParsed', ready);
            hls.off('hlsError', failed);
          },
        };
        media = hls.media || media;
        if (!hls.media && media) hls.attachMedia(media);
        hls.config.startPosition = startSeconds > 0 ? startSeconds : -1;
        hls.loadSource(url);
      });
    },
    unload() {
      settle({ fatal: false, code: 'ABORTED', message: 'unloaded' });
      media = hls.media || media;
      hls.stopLoad();
      hls.detachMedia();
    },
    onError(listener) {
      const onError = (event, data) => listener(hlsError(data));
      listeners.add(listener);
      hls.on('hlsError', onError);
      return () => {
        listeners.delete(listener);
        hls.off('hlsError', onError);
      };
    },
    detach() {
      settle({ fatal: false, code: 'ABORTED', message: 'detached' });
      hls.config.startPosition = startPosition;
      if (routing) routing.dispose();
      routing = null;
    },
  };
}

/** An hls.js error as the module reads it: `{ fatal, status?, code?, message }`. */
function hlsError(data) {
  const info = { fatal: !!data.fatal, message: `hls.js error: ${data.details}` };
  const status = data.response && data.response.code;
  if (status) info.status = status;
  const cause = data.networkDetails;
  if (cause && typeof cause.code === 'string') info.code = cause.code;
  return info;
}
