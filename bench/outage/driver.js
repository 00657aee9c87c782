// The page side of the outage bench: the same player request mix for every
// contender, and a record of what the app saw. Bundled by esbuild with one
// contender (contenders/*.js) into the page's script (see run.mjs).
//
// The mix, from `start(at)` (a Date.now() time) until `stop()`:
//   metadata   every 2 s (offset 0 s)    GET /api/v1/play/42
//   thumbnail  every 2 s (offset 1 s)    GET /api/v1/proxy/plex/photo/:/transcode?…url=/library/parts/42/indexes/sd/{ms}
//   video      every 4 s (offset 0.5 s)  GET /api/v1/proxy/plex/stream/gen-42, Range: bytes=a-(a+64 KiB-1)
// Calls are not chained: a call is issued on its clock whether or not the last
// one has finished, as a player's timers do. Every URL carries its call number
// (`c=N`): the server's log attributes each request to its call, and Chromium's
// cache lock (one GET per URL at a time) does not hold one call behind another.
//
// A contender is { name, call(kind, url, init) → Promise<{ status }> (the body read),
// fastFail(error) → bool, describe(error) → string, events?(hook) }.

const MIX = [
  { kind: 'metadata', periodMs: 2000, offsetMs: 0 },
  { kind: 'thumbnail', periodMs: 2000, offsetMs: 1000 },
  { kind: 'video', periodMs: 4000, offsetMs: 500 },
];
const RANGE_BYTES = 64 * 1024;
const VIDEO_BYTES = 512 * 1024; // the fault server's generated `gen-` videos

function urlFor(kind, n, i) {
  if (kind === 'metadata') return `/api/v1/play/42?c=${n}`;
  if (kind === 'thumbnail') {
    const ms = i * 2000;
    return `/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/42/indexes/sd/${ms}&c=${n}`;
  }
  return `/api/v1/proxy/plex/stream/gen-42?c=${n}`;
}

export function install(contender) {
  const rec = { contender: contender.name, calls: [], events: [] };
  const timers = new Set();
  let seq = 0;
  let stopped = false;

  contender.events?.((type, detail) => rec.events.push({ t: Date.now(), type, ...detail }));

  async function issue(kind, i) {
    const n = ++seq;
    const init = {};
    if (kind === 'video') {
      const a = (i * RANGE_BYTES) % VIDEO_BYTES;
      init.headers = { Range: `bytes=${a}-${a + RANGE_BYTES - 1}` };
    }
    const call = { n, kind, start: Date.now(), end: null, ok: false, status: null, error: null, fastFail: false };
    rec.calls.push(call);
    try {
      const { status } = await contender.call(kind, urlFor(kind, n, i), init);
      call.status = status;
      call.ok = status >= 200 && status < 300;
      if (!call.ok) call.error = `HTTP ${status}`;
    } catch (error) {
      call.error = contender.describe(error);
      call.fastFail = contender.fastFail(error);
    }
    call.end = Date.now();
  }

  function schedule({ kind, periodMs, offsetMs }, at) {
    let i = 0;
    const next = () => {
      if (stopped) return;
      const due = at + offsetMs + i * periodMs;
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (stopped) return;
        issue(kind, i++);
        next();
      }, Math.max(0, due - Date.now()));
      timers.add(timer);
    };
    next();
  }

  window.bench = {
    rec,
    ready: contender.ready ?? Promise.resolve(),
    start(at) {
      for (const m of MIX) schedule(m, at);
    },
    stop() {
      stopped = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
    pending: () => rec.calls.filter((c) => c.end === null).length,
  };
}

/** The service a URL belongs to, as this package's default routing has it (for the other contenders' breakers). */
export function serviceOf(url) {
  return url.includes('/api/v1/proxy/plex/') || url.includes('/api/v1/display/plex/') ? 'plex' : 'api';
}

/** Reads the whole body; resolves { status }. */
export async function consume(response) {
  await response.arrayBuffer();
  return { status: response.status };
}

export const isFailureStatus = (status) => status >= 500 || status === 429;
