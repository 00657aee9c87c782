// Shaka Player's requests through the breaker: `player-resilience/shaka`.
//
// Shaka picks the transport by URL scheme, for every player of the page
// (`shaka.net.NetworkingEngine.registerScheme`). This file registers one http(s)
// plugin while any player is attached, and makes it per player: a request filter
// on each attached player's networking engine marks that player's requests, the
// plugin sends marked ones through that player's `r.fetch`, and anything else
// through Shaka's own HTTP plugin, as if nothing were attached.
//
// No top-level await, no import of Shaka: the page passes its `shaka` namespace
// (or has `window.shaka`).

/** Which attachment made each request (filled by the attached players' request filters). */
const owners = new WeakMap();

/**
 * The installed plugin per Shaka namespace (a page normally has one):
 * `{ count, delegate }`, where `delegate` is Shaka's own HTTP plugin.
 * @type {Map<object, { count: number, delegate: Function }>}
 */
const installed = new Map();

const SCHEMES = ['http', 'https'];

/**
 * Routes every request `player` makes (manifests, playlists, init and media
 * segments) through `r.fetch`, and bounds Shaka's own retries while attached.
 * Call it after `new shaka.Player()`, before `load()`.
 *
 * @param {{ fetch: typeof fetch, enabled: boolean }} r the module's instance (`createResilience(...)`)
 * @param {object} player a `shaka.Player`
 * @param {{ shaka?: object, onFailure?: (failure: { status?: number, code?: string }) => void }} [options]
 *   `shaka`: the Shaka namespace (default `globalThis.shaka`); `onFailure`: called for each request
 *   that failed (the status of an error answer, or the module's error code)
 * @returns {{ dispose(): void, abort(): void }} `dispose` undoes everything: filter, plugin, retry
 *   parameters; `abort` ends every request of this player in flight (an unload must not wait for
 *   them: Shaka does not always abort its manifest request, and Chromium holds a later GET of the
 *   same URL behind it)
 */
export function attachShaka(r, player, options) {
  const shaka = (options && options.shaka) || globalThis.shaka;
  if (!r || typeof r.fetch !== 'function') throw new TypeError('attachShaka: r must be a createResilience() instance');
  if (!shaka || !shaka.net || !shaka.net.NetworkingEngine || !shaka.util) {
    throw new TypeError('attachShaka: pass the Shaka namespace as options.shaka (or load Shaka as a script)');
  }
  const engine = player && typeof player.getNetworkingEngine === 'function' ? player.getNetworkingEngine() : null;
  if (!engine) throw new TypeError('attachShaka: player must be a shaka.Player that is not destroyed');
  // Disabled: a pure pass-through, nothing is touched.
  if (!r.enabled) return { dispose() {}, abort() {} };

  const attachment = { r, shaka, active: true, onFailure: options && options.onFailure, inflight: new Set() };
  const filter = (type, request) => {
    if (attachment.active) owners.set(request, attachment);
  };
  engine.registerRequestFilter(filter);
  const saved = boundRetries(player);
  install(shaka);

  return {
    abort() {
      for (const drop of [...attachment.inflight]) drop();
    },
    dispose() {
      if (!attachment.active) return;
      attachment.active = false;
      engine.unregisterRequestFilter(filter);
      uninstall(shaka);
      try {
        player.configure({
          streaming: { retryParameters: saved.streaming },
          manifest: { retryParameters: saved.manifest },
        });
      } catch {
        // A player already destroyed has no configuration to restore.
      }
    },
  };
}

/**
 * While attached, Shaka makes one attempt per request: `r.fetch` retries (with
 * backoff, jitter, `Retry-After` and its budget) and times the headers (its class
 * timeouts, counted against the breaker), so Shaka's `maxAttempts` becomes 1 and
 * its `connectionTimeout` 0. Its `timeout` (timed from the headers on, by the
 * plugin) and `stallTimeout` still bound a body. Returns the originals.
 */
function boundRetries(player) {
  const config = player.getConfiguration();
  const saved = {
    streaming: { ...config.streaming.retryParameters },
    manifest: { ...config.manifest.retryParameters },
  };
  const bound = (p) => ({ ...p, maxAttempts: 1, connectionTimeout: 0 });
  player.configure({
    streaming: { retryParameters: bound(saved.streaming) },
    manifest: { retryParameters: bound(saved.manifest) },
  });
  return saved;
}

/** Registers the plugin for http(s) once per Shaka namespace. */
function install(shaka) {
  const entry = installed.get(shaka);
  if (entry) {
    entry.count++;
    return;
  }
  const Fetch = shaka.net.HttpFetchPlugin;
  const delegate = Fetch && Fetch.isSupported() ? Fetch.parse : shaka.net.HttpXHRPlugin.parse;
  const plugin = (uri, request, type, progressUpdated, headersReceived, config) => {
    const attachment = owners.get(request);
    if (!attachment || !attachment.active || !attachment.r.enabled) {
      return delegate(uri, request, type, progressUpdated, headersReceived, config);
    }
    return send(attachment, uri, request, type, progressUpdated, headersReceived, config);
  };
  const { NetworkingEngine } = shaka.net;
  for (const scheme of SCHEMES) {
    NetworkingEngine.registerScheme(scheme, plugin, NetworkingEngine.PluginPriority.APPLICATION, true);
  }
  installed.set(shaka, { count: 1, delegate });
}

/** The last player detached: Shaka's own HTTP plugin again, as Shaka registers it. */
function uninstall(shaka) {
  const entry = installed.get(shaka);
  if (!entry || --entry.count > 0) return;
  installed.delete(shaka);
  const { NetworkingEngine } = shaka.net;
  for (const scheme of SCHEMES) {
    NetworkingEngine.unregisterScheme(scheme);
    NetworkingEngine.registerScheme(scheme, entry.delegate, NetworkingEngine.PluginPriority.PREFERRED, true);
  }
}

/**
 * One request through `r.fetch`, as Shaka's fetch plugin makes it: headers
 * reported, progress for the bandwidth estimate, streamed data for low latency,
 * abort, the `timeout` retry parameter on the body, Shaka errors.
 */
function send(attachment, uri, request, type, progressUpdated, headersReceived, config) {
  const { shaka } = attachment;
  const ShakaError = shaka.util.Error;
  const controller = new AbortController();
  const status = { canceled: false, dropped: false, timedOut: false, reader: null };
  const cancelBody = () => {
    if (status.reader) status.reader.cancel().catch(() => {});
  };
  const headers = {};
  const source = request.headers || {};
  if (source instanceof Map) source.forEach((value, key) => (headers[key] = value));
  else Object.assign(headers, source);
  const init = {
    method: request.method || 'GET',
    headers,
    body: request.body || undefined,
    signal: controller.signal,
    credentials: request.allowCrossSiteCredentials ? 'include' : undefined,
  };
  const fail = (severity, code, ...data) => new ShakaError(severity, ShakaError.Category.NETWORK, code, ...data);
  const { RECOVERABLE, CRITICAL } = ShakaError.Severity;
  const Code = ShakaError.Code;
  // Ended by the attachment (an unload), not by Shaka: a critical error, so that
  // Shaka neither retries it nor waits on it (its own abort error can leave a load
  // hanging).
  const dropped = () => fail(CRITICAL, Code.HTTP_ERROR, uri, { code: 'ABORTED' }, type);

  const promise = (async () => {
    let response;
    try {
      response = await attachment.r.fetch(uri, init);
    } catch (error) {
      if (status.dropped) throw dropped();
      if (status.canceled) throw fail(RECOVERABLE, Code.OPERATION_ABORTED, uri, type);
      failed(attachment, { status: error && error.status, code: error && error.code });
      throw moduleError(fail, Code, RECOVERABLE, CRITICAL, error, uri, type);
    }
    if (status.canceled || status.dropped) {
      response.body?.cancel().catch(() => {});
      throw status.dropped ? dropped() : fail(RECOVERABLE, Code.OPERATION_ABORTED, uri, type);
    }
    const responseHeaders = {};
    response.headers.forEach((value, key) => (responseHeaders[key.trim()] = value));
    headersReceived(responseHeaders);
    const ok = isSuccess(response.status);
    if (!ok) failed(attachment, { status: response.status });
    const timeoutMs = request.retryParameters && request.retryParameters.timeout;
    const timer = timeoutMs
      ? setTimeout(() => {
          status.timedOut = true;
          cancelBody();
        }, timeoutMs)
      : null;
    let data;
    try {
      data = await readBody(response, init.method, status, progressUpdated,
        ok ? request.streamDataCallback : null, (config && config.minBytesForProgressEvents) || 0);
    } catch (error) {
      if (status.dropped) throw dropped();
      if (status.canceled) throw fail(RECOVERABLE, Code.OPERATION_ABORTED, uri, type);
      if (status.timedOut) throw fail(RECOVERABLE, Code.TIMEOUT, uri, type);
      throw fail(RECOVERABLE, Code.HTTP_ERROR, uri, error, type);
    } finally {
      clearTimeout(timer);
    }
    if (!ok) {
      let text = null;
      try {
        text = new TextDecoder().decode(data);
      } catch {
        // Not text: no text.
      }
      throw fail(RECOVERABLE, Code.BAD_HTTP_STATUS, uri, response.status, text, responseHeaders, type,
        response.url || uri);
    }
    return {
      uri: response.url || uri,
      originalUri: uri,
      data,
      status: response.status,
      headers: responseHeaders,
      fromCache: !!responseHeaders['x-shaka-from-cache'],
      originalRequest: request,
    };
  })();

  const stop = (flag) => () => {
    status[flag] = true;
    controller.abort();
    cancelBody();
    return Promise.resolve();
  };
  const drop = stop('dropped');
  attachment.inflight.add(drop);
  const settled = () => attachment.inflight.delete(drop);
  promise.then(settled, settled);
  return new shaka.util.AbortableOperation(promise, stop('canceled'));
}

/**
 * The module's error as Shaka's: an open breaker is CRITICAL, so Shaka does not
 * try again (the request never reached the server); the rest are recoverable.
 * The module's error is in the Shaka error's data (`error.data[1]`).
 */
function moduleError(fail, Code, RECOVERABLE, CRITICAL, error, uri, type) {
  const code = error && error.code;
  if (code === 'BREAKER_OPEN') return fail(CRITICAL, Code.HTTP_ERROR, uri, error, type);
  if (code === 'TIMEOUT') return fail(RECOVERABLE, Code.TIMEOUT, uri, type);
  if (code === 'RETRIES_EXHAUSTED' && error.status) {
    return fail(RECOVERABLE, Code.BAD_HTTP_STATUS, uri, error.status, null, {}, type, uri);
  }
  return fail(RECOVERABLE, Code.HTTP_ERROR, uri, error, type);
}

/** Tells the attachment's `onFailure` (if any) that a request failed. */
function failed(attachment, failure) {
  if (attachment.onFailure) attachment.onFailure(failure);
}

/** Shaka's success statuses. */
function isSuccess(status) {
  return (status >= 200 && status <= 299 && status != 202) || status == 304;
}

/**
 * Reads the body chunk by chunk: progress (at most every 100 ms with at least
 * `minBytes`, and at the end), streamed data, then the whole as an ArrayBuffer.
 */
async function readBody(response, method, status, progressUpdated, streamDataCallback, minBytes) {
  // Chromium gives HEAD responses a null body (crbug.com/1297060).
  if (method === 'HEAD') return new ArrayBuffer(0);
  if (!response.body) {
    const data = await response.arrayBuffer();
    progressUpdated(0, data.byteLength, 0);
    return data;
  }
  const length = parseInt(response.headers.get('content-length') || '0', 10) || 0;
  const reader = (status.reader = response.body.getReader());
  const chunks = [];
  let loaded = 0;
  let reported = 0;
  let last = Date.now();
  for (;;) {
    const { done, value } = await reader.read();
    if (!done) {
      chunks.push(value);
      loaded += value.byteLength;
      if (streamDataCallback) await streamDataCallback(value);
    }
    const now = Date.now();
    if ((now - last > 100 && loaded - reported >= minBytes) || done) {
      progressUpdated(now - last, loaded - reported, done ? 0 : Math.max(0, length - loaded));
      reported = loaded;
      last = now;
    }
    if (done) break;
  }
  const data = new Uint8Array(loaded);
  let offset = 0;
  for (const chunk of chunks) {
    data.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return data.buffer;
}

/**
 * The adapter for `attachVideo(video, { player: shakaPlayer(player) })`: the
 * module loads, unloads and reloads the item through the `shaka.Player` (attached
 * to `video`), routes its requests through `r.fetch` while watched (as
 * `attachShaka`), and hears its errors.
 *
 * @param {object} player a `shaka.Player`, attached to the watched `<video>`
 * @param {{ shaka?: object }} [options] `shaka`: the Shaka namespace (default `globalThis.shaka`)
 * @returns {import('./index.js').PlayerAdapter}
 */
export function shakaPlayer(player, options) {
  const shaka = (options && options.shaka) || globalThis.shaka;
  if (!shaka || !shaka.util || !shaka.util.Error) {
    throw new TypeError('shakaPlayer: pass the Shaka namespace as options.shaka (or load Shaka as a script)');
  }
  if (!player || typeof player.load !== 'function' || typeof player.unload !== 'function') {
    throw new TypeError('shakaPlayer: player must be a shaka.Player');
  }
  const listeners = new Set();
  const tell = (error) => listeners.forEach((listener) => listener(error));
  let routing = null;
  return {
    attach(r) {
      if (!routing) routing = attachShaka(r, player, { shaka, onFailure: (failure) => tell({ fatal: false, ...failure }) });
    },
    async load(url, startSeconds) {
      try {
        await player.load(url, startSeconds > 0 ? startSeconds : null);
      } catch (error) {
        throw playerError(shaka, error);
      }
    },
    unload() {
      if (routing) routing.abort();
      return player.unload().catch(() => {});
    },
    onError(listener) {
      const onError = (event) => listener(playerError(shaka, event.detail));
      listeners.add(listener);
      player.addEventListener('error', onError);
      return () => {
        listeners.delete(listener);
        player.removeEventListener('error', onError);
      };
    },
    detach() {
      if (routing) routing.dispose();
      routing = null;
    },
  };
}

/** A Shaka error as the module reads it: `{ fatal, status?, code?, message }`. */
function playerError(shaka, error) {
  const { Code, Severity } = shaka.util.Error;
  const data = (error && error.data) || [];
  const info = { fatal: !!error && error.severity === Severity.CRITICAL, message: `Shaka Player error ${error && error.code}` };
  if (!error) return info;
  if (error.code === Code.BAD_HTTP_STATUS) info.status = data[1];
  else if (error.code === Code.HTTP_ERROR && data[1] && data[1].code) info.code = data[1].code;
  else if (error.code === Code.TIMEOUT) info.code = 'TIMEOUT';
  else if (error.code === Code.LOAD_INTERRUPTED || error.code === Code.OPERATION_ABORTED) info.code = 'ABORTED';
  return info;
}
