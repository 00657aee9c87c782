// dash.js's requests through the breaker: `player-resilience/dashjs`.
//
// dash.js 5 sends every manifest, init and media segment request of a player
// through its `HTTPLoader` (retries, request and response interceptors, metrics,
// throughput traces), which hands the transport to an `XHRLoader`. This file
// extends that XHRLoader in the player's own context (`player.extend('XHRLoader',
// …, true)`: the parent is kept) so that, while attached, a request goes through
// `r.fetch` instead of an XMLHttpRequest, and everything above the transport stays
// dash.js's. dash.js cannot remove an extension, so after `dispose()` the
// extension hands every request to the parent XHRLoader: dash.js's own transport.
//
// No top-level await, no import of dash.js.

/** The per-player slot the extension reads on each request: `{ attachment }`. */
const slots = new WeakMap();

/**
 * Request types whose retries `r.fetch` replaces while attached (DRM licence
 * requests, to another server, keep theirs).
 */
const RETRIED_TYPES = ['MPD', 'XLinkExpansion', 'MediaSegment', 'InitializationSegment', 'BitstreamSwitchingSegment',
  'IndexSegment', 'FragmentInfoSegment', 'other'];

/**
 * Routes every request a dash.js `MediaPlayer` makes through `r.fetch`, and sets
 * dash.js's own retry attempts to 0 while attached. Call it after
 * `dashjs.MediaPlayer().create()`, before `initialize()` / `attachSource()`: dash.js
 * makes its loaders' transports on their first request.
 *
 * @param {{ fetch: typeof fetch, enabled: boolean }} r the module's instance (`createResilience(...)`)
 * @param {object} player a dash.js `MediaPlayer` (from `MediaPlayer().create()`)
 * @param {{ onFailure?: (failure: { status?: number, code?: string }) => void }} [options]
 *   `onFailure`: called for each request that failed (the status of an error answer, or the module's error code)
 * @returns {{ dispose(): void }} undoes everything: transport and retry attempts
 */
export function attachDashjs(r, player, options) {
  if (!r || typeof r.fetch !== 'function') throw new TypeError('attachDashjs: r must be a createResilience() instance');
  if (!player || typeof player.extend !== 'function' || typeof player.updateSettings !== 'function') {
    throw new TypeError('attachDashjs: player must be a dash.js MediaPlayer (MediaPlayer().create())');
  }
  // Disabled: a pure pass-through, nothing is touched.
  if (!r.enabled) return { dispose() {} };

  let slot = slots.get(player);
  if (!slot) {
    slot = { attachment: null };
    slots.set(player, slot);
    player.extend('XHRLoader', resilientXhrLoader(slot), true);
  }
  const attachment = { r, active: true, onFailure: options && options.onFailure };
  slot.attachment = attachment;

  const attempts = player.getSettings().streaming.retryAttempts;
  const saved = {};
  const bound = {};
  for (const type of RETRIED_TYPES) {
    if (type in attempts) {
      saved[type] = attempts[type];
      bound[type] = 0;
    }
  }
  player.updateSettings({ streaming: { retryAttempts: bound } });

  return {
    dispose() {
      if (!attachment.active) return;
      attachment.active = false;
      if (slot.attachment === attachment) slot.attachment = null;
      player.updateSettings({ streaming: { retryAttempts: saved } });
    },
  };
}

/**
 * The extension of one player's XHRLoader: dash.js calls it with `this.parent`,
 * the XHRLoader it keeps; the returned `load` and `abort` replace the parent's.
 */
function resilientXhrLoader(slot) {
  return function XHRLoaderThroughTheBreaker() {
    const parent = this.parent;
    const parentLoad = parent.load;
    const parentAbort = parent.abort;
    const parentReset = parent.reset;
    const parentResetInitialSettings = parent.resetInitialSettings;
    /** Aborts of this loader's requests in flight. */
    const inFlight = new Set();
    const abortAll = () => {
      for (const abort of [...inFlight]) abort();
    };
    return {
      load(request, response) {
        const attachment = slot.attachment;
        if (!attachment || !attachment.active || !attachment.r.enabled) return parentLoad(request, response);
        send(attachment, request, response, inFlight);
        return true;
      },
      abort() {
        abortAll();
        parentAbort();
      },
      reset() {
        abortAll();
        parentReset();
      },
      resetInitialSettings() {
        abortAll();
        parentResetInitialSettings();
      },
    };
  };
}

/**
 * One request through `r.fetch`, reporting to the HTTPLoader as an
 * XMLHttpRequest would: `onprogress` while the body arrives, then `onloadend`
 * with the response filled (status 0 when no response, as XHR), `onabort` on
 * abort, `ontimeout` then `onloadend` when dash.js's request timeout (timed from
 * the headers on: the module times the headers) runs out.
 */
function send(attachment, request, response, inFlight) {
  const hooks = request.customData || (request.customData = {});
  const controller = new AbortController();
  let finished = false;
  let reader = null;
  let timer = null;
  const finish = () => {
    finished = true;
    clearTimeout(timer);
    inFlight.delete(abort);
    if (reader) reader.cancel().catch(() => {});
  };
  const abort = () => {
    if (finished) return;
    finish();
    controller.abort();
    if (hooks.onabort) hooks.onabort();
  };
  hooks.abort = abort;
  inFlight.add(abort);

  const headers = {};
  for (const name in request.headers || {}) {
    const value = request.headers[name];
    if (value) headers[name] = value;
  }
  const init = {
    method: request.method || 'GET',
    headers,
    credentials: request.credentials,
    body: request.body || undefined,
    signal: controller.signal,
  };

  (async () => {
    let answer;
    try {
      answer = await attachment.r.fetch(request.url, init);
    } catch (error) {
      if (finished) return;
      finish();
      failed(attachment, { status: error && error.status, code: error && error.code });
      // No response, as an XMLHttpRequest that failed: status 0 (or the last
      // status when the module ran out of retries); the module's error is kept.
      response.status = (error && error.code === 'RETRIES_EXHAUSTED' && error.status) || 0;
      response.statusText = (error && error.code) || 'error';
      response.resilienceError = error;
      if (hooks.onloadend) hooks.onloadend();
      return;
    }
    if (finished) {
      answer.body?.cancel().catch(() => {});
      return;
    }
    if (request.timeout > 0) {
      timer = setTimeout(() => {
        if (finished) return;
        finish();
        response.status = 0;
        response.data = undefined;
        if (hooks.ontimeout) hooks.ontimeout({ lengthComputable: false, loaded: 0, total: 0 });
        if (hooks.onloadend) hooks.onloadend();
      }, request.timeout);
    }
    let body;
    try {
      const total = parseInt(answer.headers.get('content-length') || '0', 10) || 0;
      if (answer.body) {
        reader = answer.body.getReader();
        const chunks = [];
        let loaded = 0;
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          chunks.push(value);
          loaded += value.byteLength;
          if (!finished && hooks.onprogress) {
            hooks.onprogress({ lengthComputable: total > 0, loaded, total: total || loaded });
          }
        }
        body = join(chunks, loaded);
      } else {
        body = new Uint8Array(await answer.arrayBuffer());
      }
    } catch (error) {
      if (finished) return;
      finish();
      response.status = 0;
      response.statusText = 'error';
      response.resilienceError = error;
      if (hooks.onloadend) hooks.onloadend();
      return;
    }
    if (finished) return;
    finish();
    if (!answer.ok) failed(attachment, { status: answer.status });
    response.url = answer.url || request.url;
    response.status = answer.status;
    response.statusText = answer.statusText;
    response.headers = {};
    answer.headers.forEach((value, name) => (response.headers[name.toLowerCase()] = value));
    response.data = decode(body, request.responseType);
    if (hooks.onloadend) hooks.onloadend();
  })();
}

/** Tells the attachment's `onFailure` (if any) that a request failed. */
function failed(attachment, failure) {
  if (attachment.onFailure) attachment.onFailure(failure);
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

/** The body as XMLHttpRequest's `response` for `responseType`. */
function decode(bytes, responseType) {
  if (responseType === 'arraybuffer') return bytes.buffer;
  if (responseType === 'blob') return new Blob([bytes]);
  const text = new TextDecoder().decode(bytes);
  if (responseType === 'json') {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }
  if (responseType === 'document') return new DOMParser().parseFromString(text, 'text/xml');
  return text;
}

/**
 * The adapter for `attachVideo(video, { player: dashjsPlayer(player) })`: the
 * module loads (`attachSource(url, start)`), unloads (`attachSource(null)`) and
 * reloads the item through the dash.js `MediaPlayer` (initialized with the
 * watched `<video>` and no source), routes its requests through `r.fetch` while
 * watched (as `attachDashjs`), and hears its errors.
 *
 * @param {object} player a dash.js `MediaPlayer`, `initialize(video)`d
 * @returns {import('./index.js').PlayerAdapter}
 */
export function dashjsPlayer(player) {
  if (!player || typeof player.attachSource !== 'function' || typeof player.on !== 'function') {
    throw new TypeError('dashjsPlayer: player must be a dash.js MediaPlayer (MediaPlayer().create())');
  }
  const listeners = new Set();
  /** The last failed request: what a dash.js error event does not say. */
  let lastFailure = null;
  let pending = null;
  let routing = null;
  const onFailure = (failure) => {
    lastFailure = failure;
    listeners.forEach((listener) => listener({ fatal: false, ...failure }));
  };
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
      if (!routing) routing = attachDashjs(r, player, { onFailure });
    },
    load(url, startSeconds) {
      settle({ fatal: false, code: 'ABORTED', message: 'another load began' });
      return new Promise((resolve, reject) => {
        const ready = () => settle(null);
        const failed = (event) => settle({ fatal: true, ...lastFailure, message: dashMessage(event) });
        player.on('streamInitialized', ready);
        player.on('error', failed);
        pending = {
          resolve,
          reject,
          off: () => {
            player.off('streamInitialized', ready);
            player.off('error', failed);
          },
        };
        lastFailure = null;
        player.attachSource(url, startSeconds > 0 ? startSeconds : NaN);
      });
    },
    unload() {
      settle({ fatal: false, code: 'ABORTED', message: 'unloaded' });
      player.attachSource(null);
    },
    onError(listener) {
      const onError = (event) => listener({ fatal: true, ...lastFailure, message: dashMessage(event) });
      listeners.add(listener);
      player.on('error', onError);
      player.on('playbackError', onError);
      return () => {
        listeners.delete(listener);
        player.off('error', onError);
        player.off('playbackError', onError);
      };
    },
    detach() {
      settle({ fatal: false, code: 'ABORTED', message: 'detached' });
      if (routing) routing.dispose();
      routing = null;
    },
  };
}

/** A dash.js error event's message. */
function dashMessage(event) {
  const error = event && event.error;
  return `dash.js error ${error && error.code}: ${error && error.message}`;
}

/**
 * The adapter for dash.js's `<dash-video>` element (the `dash-video-element`
 * package): watch its inner `<video>`, `attachVideo(element.nativeEl, { player:
 * dashVideoPlayer(element) })`, and give the media to the module, not to the
 * element's `src`. The element makes its dash.js `MediaPlayer` on its first
 * `load()`: the adapter has it made without a source, routes its requests through
 * `r.fetch` before any is sent, and drives it as `dashjsPlayer` does.
 *
 * @param {HTMLElement & { api?: object, load(): unknown }} element a `<dash-video>` element
 * @param {{ settings?: object }} [options] `settings`: dash.js settings (`updateSettings`) for
 *   the player the element makes, applied before its first request
 * @returns {import('./index.js').PlayerAdapter}
 */
export function dashVideoPlayer(element, options) {
  if (!element || typeof element.load !== 'function' || !('nativeEl' in element)) {
    throw new TypeError('dashVideoPlayer: element must be a <dash-video> element');
  }
  /** Error listeners, subscribed to the inner adapter once there is one. */
  const listeners = new Set();
  let inner = null;
  let starting = null;
  let r = null;
  const start = () => {
    starting ??= Promise.resolve(element.api || element.load()).then(() => {
      if (!element.api) throw new TypeError('dashVideoPlayer: the <dash-video> element made no dash.js player');
      if (options && options.settings) element.api.updateSettings(options.settings);
      inner = dashjsPlayer(element.api);
      if (r) inner.attach(r);
      for (const entry of listeners) entry.off = inner.onError(entry.listener);
      return inner;
    });
    return starting;
  };
  return {
    attach(resilience) {
      r = resilience;
      if (inner) inner.attach(r);
    },
    async load(url, startSeconds) {
      return (await start()).load(url, startSeconds);
    },
    unload() {
      if (inner) inner.unload();
    },
    onError(listener) {
      const entry = { listener, off: inner ? inner.onError(listener) : null };
      listeners.add(entry);
      return () => {
        listeners.delete(entry);
        if (entry.off) entry.off();
      };
    },
    detach() {
      if (inner) inner.detach();
      r = null;
    },
  };
}
