// A local stand-in for the backend proxy in front of Plex that fails on demand.
// It serves the proxy's URL shapes (video with Range, transcode playlist, PNG
// thumbnails and posters, metadata, identity) and, per session and per route,
// answers healthy, hangs, stalls, returns 5xx / 429, resets the connection, refuses
// to read a file (`not-found`: 404; `source-unreadable`: the proxy's 503 with
// `{"error":"source-unreadable"}`), serves a video with its final bytes missing
// (`truncated`, `missingBytes=N`: a file whose trailing fragment is empty)...
// Browser tests use a session each (`/s/{session}/...`); a control API under
// `/__fault/` switches the faults and reports counts and a request log.
//
// It is also the backend's report sink: `POST /s/{session}/api/v1/player/report`
// stores the JSON the module's reports carry (never faulted: the backend is up
// when the media server is not), and `/__fault/reports?session=S` lists them.
//
// Streaming (DASH and HLS, for player libraries): the proxy's Plex transcode URLs
// serve `media/stream/`, one set of CMAF segments (H.264 + AAC, 4 s) that a DASH
// MPD and HLS playlists share (made once with ffmpeg, see media/README.md). Under
// `{U}` = `/api/v1/proxy/plex/video/:/transcode/universal` (after `/s/{session}`):
//   GET {U}/start.mpd?path=/library/metadata/{id}&...   route `manifest`
//       200 application/dash+xml: the MPD with `<BaseURL>session/{sid}/</BaseURL>`,
//       so every init and media segment resolves to {U}/session/{sid}/{file}.
//   GET {U}/start.m3u8?path=/library/metadata/{id}&...  route `manifest`
//       200 application/vnd.apple.mpegurl: a master playlist whose URIs are
//       relative, `session/{sid}/base/index.m3u8` (video) and `.../audio.m3u8`.
//   GET {U}/session/{sid}/base/{name}.m3u8             route `manifest`
//       a media playlist; its EXT-X-MAP and segment URIs are relative (same folder).
//   GET {U}/session/{sid}/[base/]{init-N,chunk-N-NNN}.m4s  route `segment`
//       video/mp4 or audio/mp4, Range supported; anything else under session/ is
//       `segment` too (404 when it names no file).
// Each start request mints a transcode session `sid` = `{id}-{n}` (n counts the
// fault session's starts from 1; `{id}` is `media` when `path` is not
// /library/metadata/{id}); the sid is also in the `X-Transcode-Session` header.
// `/__fault/transcode?session=S&kill=1` kills every sid minted so far (the
// reference frontend's dead transcode session): a dead or unknown sid answers 404
// forever, for playlists and segments alike, while a new start mints a live one.
// Without `kill` it only lists them; both answer { killed, live, dead }.
// `manifest` and `segment` have their own faults and counts like every route;
// other transcode URLs stay the generic `transcode` route. Segment bodies in
// flight follow the segment route's fault as video bodies do, and get the
// session's pacing (the default 32 KiB burst holds any segment whole, so they go
// at once unless a test lowers `burstBytes` / `rateBps`). Responses of both
// routes are `Cache-Control: no-store`, so every request reaches the server.
//
// Video: an id with its own `media/{id}.webm` gets that file; an id starting with
// `gen-` gets 512 KiB of deterministic pseudo-random bytes (for byte-exact tests);
// any other id gets `media/workout.webm`. Clip bodies are paced like a real server
// at a bounded rate (`/__fault/pace`), so a browser never holds the whole clip and an
// outage makes the video stall within seconds. Bodies in flight follow their
// route's fault: a hung server stops sending, a failed one resets the connection.
//
//   node www/fault-server.mjs [--port N]     (or env PORT; --port 0 = any free port)
//
// `createFaultHandler()` gives the same server as a request handler to mount in
// another HTTP server (the demo's, www/demo-server.mjs).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { createImage, drawTextCentered, fitScale, toPng } from './png.mjs';

const MEDIA_DIR = fileURLToPath(new URL('./media/', import.meta.url));
const STREAM_DIR = path.join(MEDIA_DIR, 'stream');
const TRANSCODE_LIMIT = 1000; // sids remembered per session; older ones answer 404 like dead ones
const DEFAULT_CLIP = 'workout';
const GENERATED_PREFIX = 'gen-';
const GENERATED_VIDEO_BYTES = 512 * 1024;
// Pacing of clip bodies, per session (`/__fault/pace`): the first `burstBytes` at
// once, then at most `rateBps` (6 KiB/s is ~2x the clip's average ~2.8 KB/s), and
// never more than `leadMs` of the clip ahead of the time since the response started
// (at the clip's own bitrate), so the buffer a browser holds stays bounded however
// long it plays. 0 turns a limit off. Measured in headless Chromium with play():
// its media cache works in 32 KiB blocks (~12 s of this clip) and plays nothing of
// a block until it is whole, so it plays 0.25 s after play() with a 32 KiB burst
// (3 s with 16 KiB), and with a 12 s lead it stutters once, with 14 s it plays
// steadily. An outage then stalls the video when the last whole block runs out:
// 2-14 s after it, or up to ~35 s when Chromium reads on from its second block in
// a new request (which starts mid-clip, so gets the extra block below, and whose
// lead counts from its own start).
const DEFAULT_PACING = Object.freeze({ rateBps: 6144, burstBytes: 32 * 1024, leadMs: 14_000 });
const PACE_TICK_MS = 100;
const WRITE_CHUNK = 16 * 1024;
const LOG_LIMIT = 500;
const MAX_CONTROL_BODY = 64 * 1024;
const MAX_REPORT_BODY = 16 * 1024;
const REPORT_LIMIT = 200;
const REPORT_PATH = /^\/api\/v1\/player\/report$/;
const SESSION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const SESSION_PREFIX = /^\/s\/([A-Za-z0-9_.-]{1,64})(\/.*)$/;
const ID = '([A-Za-z0-9_-]+)'; // ids are sanitised by only matching these characters

// ---------------------------------------------------------------------------
// Route table: name (the key used by the control API and counts), path pattern
// (after the session prefix), handler returning { status, headers, body }.

// A name may have several patterns (its entries share faults and counts); the first
// matching entry wins. `stream` bodies follow their route's fault while in flight.
const UNIVERSAL = '/api/v1/proxy/plex/video/:/transcode/universal';
const ROUTES = [
  { name: 'video', pattern: new RegExp(`^/api/v1/proxy/plex/stream/${ID}$`), handle: serveVideo, stream: true },
  { name: 'manifest', pattern: new RegExp(`^${UNIVERSAL}/start\\.(mpd|m3u8)$`), handle: serveTranscodeStart },
  { name: 'manifest', pattern: new RegExp(`^${UNIVERSAL}/session/(.*\\.m3u8)$`), handle: serveTranscodeFile },
  { name: 'segment', pattern: new RegExp(`^${UNIVERSAL}/session/(.*)$`), handle: serveTranscodeFile, stream: true },
  { name: 'transcode', pattern: new RegExp(`^${UNIVERSAL}/`), handle: serveTranscode },
  { name: 'thumbnail', pattern: /^\/api\/v1\/proxy\/plex\/photo\/:\/transcode$/, handle: serveThumbnail },
  { name: 'poster', pattern: new RegExp(`^/api/v1/display/plex/${ID}$`), handle: servePoster },
  { name: 'metadata', pattern: new RegExp(`^/api/v1/play/${ID}$`), handle: serveMetadata },
  { name: 'identity', pattern: /^\/api\/v1\/proxy\/plex\/identity$/, handle: serveIdentity },
];
const ROUTE_NAMES = [...new Set(ROUTES.map((r) => r.name))];

// `missingBytes` (the `truncated` fault): the file is served without its final bytes.
async function serveVideo({ match, headers, missingBytes = 0 }) {
  const id = match[1];
  const headersOut = { 'Content-Type': 'video/webm', 'Accept-Ranges': 'bytes' };
  const cut = (bytes) => bytes.subarray(0, Math.max(0, bytes.length - missingBytes));
  if (id.startsWith(GENERATED_PREFIX)) return rangeReply(cut(generatedVideo(id)), headers.range, headersOut);
  const clip = (await readClip(id)) ?? (await readClip(DEFAULT_CLIP));
  const reply = rangeReply(cut(clip.bytes), headers.range, headersOut);
  reply.clipBytesPerSecond = clip.bytesPerSecond; // paced (see streamBody)
  return reply;
}

// A clip from media/, with its average bitrate read from the WebM header; null when
// the file does not exist. Cached until the file changes.
const clips = new Map();
async function readClip(id) {
  const file = path.join(MEDIA_DIR, `${id}.webm`);
  let stat;
  try {
    stat = await fs.promises.stat(file);
  } catch (err) {
    if (err.code === 'ENOENT') return null;
    throw err;
  }
  const cached = clips.get(file);
  if (cached && cached.mtimeMs === stat.mtimeMs && cached.bytes.length === stat.size) return cached;
  const bytes = await fs.promises.readFile(file);
  const seconds = webmDurationSeconds(bytes);
  const clip = { mtimeMs: stat.mtimeMs, bytes, bytesPerSecond: seconds > 0 ? bytes.length / seconds : null };
  clips.set(file, clip);
  return clip;
}

// Segment > Info > Duration (a float in TimecodeScale units, default 1 ms), or null.
function webmDurationSeconds(buf) {
  const vint = (at, keepMarker) => {
    const first = buf[at];
    if (first === undefined || first === 0) return null;
    const len = Math.clz32(first) - 23;
    let value = keepMarker ? first : first & (0xff >> len);
    for (let i = 1; i < len; i++) value = value * 256 + (buf[at + i] ?? 0);
    return { value, len };
  };
  const children = function* (start, end) {
    for (let at = start; at < end; ) {
      const id = vint(at, true);
      const size = id && vint(at + id.len, false);
      if (!size) return;
      const body = at + id.len + size.len;
      yield { id: id.value, body, end: Math.min(end, body + size.value) };
      at = body + size.value;
    }
  };
  for (const segment of children(0, Math.min(buf.length, 4096))) {
    if (segment.id !== 0x18538067) continue;
    for (const info of children(segment.body, Math.min(segment.end, segment.body + 4096))) {
      if (info.id !== 0x1549a966) continue;
      let scale = 1_000_000;
      let duration = null;
      for (const e of children(info.body, info.end)) {
        if (e.id === 0x2ad7b1) scale = buf.readUIntBE(e.body, Math.min(6, e.end - e.body));
        if (e.id === 0x4489 && e.end - e.body === 8) duration = buf.readDoubleBE(e.body);
        if (e.id === 0x4489 && e.end - e.body === 4) duration = buf.readFloatBE(e.body);
      }
      return duration === null ? null : (duration * scale) / 1e9;
    }
  }
  return null;
}

// Deterministic pseudo-random bytes (xorshift32 seeded by the id's FNV-1a hash).
function generatedVideo(id) {
  let x = 0x811c9dc5;
  for (const c of Buffer.from(id)) x = Math.imul(x ^ c, 0x01000193);
  x = x >>> 0 || 1;
  const bytes = Buffer.alloc(GENERATED_VIDEO_BYTES);
  for (let i = 0; i < bytes.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

// 200 with the whole body, 206 for one satisfiable range, 416 for an unsatisfiable
// one. Malformed or multi-range headers are ignored (whole body), as RFC 9110 allows.
function rangeReply(bytes, rangeHeader, headers) {
  const size = bytes.length;
  const m = /^bytes=(\d*)-(\d*)$/.exec((rangeHeader ?? '').trim());
  if (!m || (m[1] === '' && m[2] === '')) return { status: 200, headers, body: bytes };
  let start;
  let end;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return unsatisfiable(size, headers);
    start = Math.max(0, size - suffix);
    end = size - 1;
  } else {
    start = Number(m[1]);
    if (m[2] !== '' && Number(m[2]) < start) return { status: 200, headers, body: bytes };
    if (start >= size) return unsatisfiable(size, headers);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return {
    status: 206,
    headers: { ...headers, 'Content-Range': `bytes ${start}-${end}/${size}` },
    body: bytes.subarray(start, end + 1),
  };
}

function unsatisfiable(size, headers) {
  return { ...jsonReply(416, { error: 'Range Not Satisfiable' }), headers: { ...headers, 'Content-Range': `bytes */${size}` } };
}

// The streaming set in media/stream/, read once (cached until manifest.mpd changes):
// `mpd` and `master` are the templates the start requests rewrite; `files` the
// ones served under session/{sid}/ (media playlists and segments), with their
// type (a representation's mimeType from the MPD, by the N in init-N / chunk-N-*)
// and that representation's average bytes per second (for pacing).
let streamSet = null;
async function readStreamSet() {
  const mpdFile = path.join(STREAM_DIR, 'manifest.mpd');
  const stat = await fs.promises.stat(mpdFile);
  if (streamSet && streamSet.mtimeMs === stat.mtimeMs) return streamSet;
  const mpd = await fs.promises.readFile(mpdFile, 'utf8');
  const master = await fs.promises.readFile(path.join(STREAM_DIR, 'master.m3u8'), 'utf8');
  const types = new Map([...mpd.matchAll(/<Representation\b[^>]*\bid="([^"]+)"[^>]*\bmimeType="([^"]+)"/g)].map((m) => [m[1], m[2]]));
  const d = /mediaPresentationDuration="PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?"/.exec(mpd);
  const seconds = d ? Number(d[1] ?? 0) * 3600 + Number(d[2] ?? 0) * 60 + Number(d[3] ?? 0) : 0;
  const files = new Map();
  const repBytes = new Map();
  for (const entry of await fs.promises.readdir(STREAM_DIR, { withFileTypes: true })) {
    const { name } = entry;
    if (!entry.isFile() || name === 'manifest.mpd' || name === 'master.m3u8') continue;
    const bytes = await fs.promises.readFile(path.join(STREAM_DIR, name));
    const rep = /^(?:init|chunk)-([^-.]+)[-.]/.exec(name)?.[1];
    const type = name.endsWith('.m3u8') ? 'application/vnd.apple.mpegurl' : types.get(rep) ?? 'video/mp4';
    files.set(name, { bytes, type, rep });
    if (rep !== undefined) repBytes.set(rep, (repBytes.get(rep) ?? 0) + bytes.length);
  }
  for (const file of files.values()) {
    file.bytesPerSecond = file.rep !== undefined && seconds > 0 ? repBytes.get(file.rep) / seconds : null;
  }
  streamSet = { mtimeMs: stat.mtimeMs, mpd, master, files };
  return streamSet;
}

// Mints a live transcode session `{id}-{n}`; the oldest are forgotten past the limit.
function mintTranscode(session, id) {
  const sid = `${id}-${++session.transcodeSeq}`;
  session.transcodes.set(sid, { live: true });
  for (const old of session.transcodes.keys()) {
    if (session.transcodes.size <= TRANSCODE_LIMIT) break;
    session.transcodes.delete(old);
  }
  return sid;
}

// start.mpd / start.m3u8: a new transcode session and its manifest, every URL in
// it relative to the manifest, under session/{sid}/.
async function serveTranscodeStart({ match, query, session }) {
  const set = await readStreamSet();
  const id = new RegExp(`^/library/metadata/${ID}$`).exec(query.get('path') ?? '')?.[1] ?? 'media';
  const sid = mintTranscode(session, id);
  const headers = { 'Cache-Control': 'no-store', 'X-Transcode-Session': sid };
  if (match[1] === 'mpd') {
    const body = set.mpd.replace(/\n(\s*)<Period\b/, `\n$1<BaseURL>session/${sid}/</BaseURL>\n$1<Period`);
    return { status: 200, headers: { 'Content-Type': 'application/dash+xml', ...headers }, body: Buffer.from(body) };
  }
  const base = `session/${sid}/base/`;
  const body = set.master
    .split('\n')
    .map((line) => (line === '' ? line : line.startsWith('#') ? line.replace(/URI="([^"]+)"/g, `URI="${base}$1"`) : base + line))
    .join('\n');
  return { status: 200, headers: { 'Content-Type': 'application/vnd.apple.mpegurl', ...headers }, body: Buffer.from(body) };
}

// session/{sid}/[base/]{name}: a media playlist or a segment of a live session;
// 404 for a dead or unknown session (forever) and for a name that is no file.
async function serveTranscodeFile({ match, headers, session }) {
  const [sid, ...rest] = match[1].split('/');
  const transcode = session.transcodes.get(sid);
  if (!transcode?.live) {
    return jsonReply(404, { error: transcode ? 'transcode session ended' : 'no such transcode session', session: sid });
  }
  const name = rest.length === 2 && rest[0] === 'base' ? rest[1] : rest.length === 1 ? rest[0] : null;
  const file = name !== null && (await readStreamSet()).files.get(name);
  if (!file) return jsonReply(404, { error: 'Not Found', session: sid });
  const reply = rangeReply(file.bytes, headers.range, { 'Content-Type': file.type, 'Accept-Ranges': 'bytes', 'Cache-Control': 'no-store' });
  if (file.bytesPerSecond) reply.clipBytesPerSecond = file.bytesPerSecond; // paced (see streamBody)
  return reply;
}

function serveTranscode({ prefix }) {
  const body = [
    '#EXTM3U',
    '#EXT-X-VERSION:3',
    '#EXT-X-TARGETDURATION:10',
    '#EXT-X-PLAYLIST-TYPE:VOD',
    '#EXTINF:10.0,',
    `${prefix}/api/v1/proxy/plex/stream/1`,
    '#EXT-X-ENDLIST',
    '',
  ].join('\n');
  return { status: 200, headers: { 'Content-Type': 'application/vnd.apple.mpegurl' }, body: Buffer.from(body) };
}

// ?width=240&height=135&url=/library/parts/{partId}/indexes/sd/{ms}: a PNG showing
// mm:ss of `ms` on a background whose hue moves with `ms`.
function serveThumbnail({ query }) {
  const m = new RegExp(`^/library/parts/${ID}/indexes/sd/(\\d+)$`).exec(query.get('url') ?? '');
  if (!m) return jsonReply(400, { error: 'url must be /library/parts/{partId}/indexes/sd/{ms}', parameter: 'url' });
  const ms = Number(m[2]);
  const width = clampInt(query.get('width'), 240, 640);
  const height = clampInt(query.get('height'), 135, 360);
  const seconds = Math.floor(ms / 1000);
  const label = `${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}`;
  const img = createImage(width, height, hsl((seconds * 3) % 360, 0.55, 0.35));
  drawTextCentered(img, label, height / 2, fitScale(label, width * 0.8, height * 0.5), [255, 255, 255]);
  return pngReply(img);
}

function servePoster({ match }) {
  const id = match[1];
  const img = createImage(320, 180, [24, 32, 56]);
  drawTextCentered(img, 'POSTER', 60, fitScale('POSTER', 320 * 0.8, 50), [255, 255, 255]);
  drawTextCentered(img, id, 130, fitScale(id, 320 * 0.8, 35), [250, 200, 80]);
  return pngReply(img);
}

function serveMetadata({ match, prefix }) {
  const id = match[1];
  return jsonReply(200, {
    id,
    title: `Fault server video ${id}`,
    durationMs: 600_000,
    partId: id,
    videoUrl: `${prefix}/api/v1/proxy/plex/stream/${id}`,
    posterUrl: `${prefix}/api/v1/display/plex/${id}`,
    thumbnailStepMs: 10_000,
  });
}

function serveIdentity() {
  return jsonReply(200, { MediaContainer: { machineIdentifier: 'fault-server', version: '1.0' } });
}

function jsonReply(status, value) {
  return { status, headers: { 'Content-Type': 'application/json' }, body: Buffer.from(JSON.stringify(value)) };
}

function pngReply(img) {
  return { status: 200, headers: { 'Content-Type': 'image/png', 'Cache-Control': 'max-age=3600' }, body: toPng(img) };
}

function clampInt(text, fallback, max) {
  const n = Number.parseInt(text ?? '', 10);
  return Number.isFinite(n) ? Math.min(Math.max(n, 1), max) : fallback;
}

function hsl(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

// ---------------------------------------------------------------------------
// Fault table: how each mode answers. `status` replaces the route's answer with a
// canned error; `delayMs` (the default, overridable) waits before answering;
// `retryAfter` adds a Retry-After header; `deliver` changes how it is delivered.
// `inflight` is what a video body already streaming does when its route switches
// to the mode: keep sending (the default), `stall` (stop sending for good, the
// connection left open: a hung server) or `reset` (the connection is reset: a
// server that died or a proxy that gave up on it).
// `body` replaces the canned error's JSON body; `truncate` serves the video route's
// file with its final bytes missing (see below).
// `flapping` is resolved to healthy or its flapMode before this table is used.
//
// A file the server cannot read, as the reference frontend's proxy answers it:
// `not-found` is a 404 (the file is gone), `source-unreadable` the proxy's 503
// with `Content-Type: application/json` and the body `{"error":"source-unreadable"}`
// (its storage refuses to read the file: not a dead server). Bodies in flight are
// reset under both (the reads behind them fail).
//
// `truncated` (video route; other routes answer normally) serves the file with its
// final `missingBytes` bytes missing (default 1024), as a file whose trailing
// fragment is empty: a shorter file (its length, Content-Length and Content-Range
// agree) whose header still gives the whole clip's duration. For workout.webm
// (Cues, 582 B, at the end; 12 fps, ~230 B a frame) the default leaves the video
// data up to ~119.8 s of its 120 s; 11832 drops the last 4 s cluster too. Bodies
// in flight go on as they started. Measured in headless Chromium (see
// tests/e2e/outage.test.mjs): it plays such a file to its last frame, then its
// currentTime jumps to the duration and it fires `ended` itself; without the Cues
// a seek scans the data, so it waits for the bytes before the target.

const FAULTS = {
  healthy: {},
  hang: { deliver: 'hang', inflight: 'stall' },
  'slow-headers': { delayMs: 5000 },
  'slow-body': { deliver: 'half', inflight: 'stall' },
  'gateway-timeout': { status: 504, delayMs: 0, inflight: 'stall' },
  'bad-gateway': { status: 502, inflight: 'reset' },
  unavailable: { status: 503, inflight: 'reset' },
  'too-many': { status: 429, retryAfter: true, inflight: 'reset' },
  'retry-after': { status: 503, retryAfter: true, inflight: 'reset' },
  reset: { deliver: 'reset', inflight: 'reset' },
  empty: { deliver: 'empty', inflight: 'reset' },
  'not-found': { status: 404, inflight: 'reset' },
  'source-unreadable': { status: 503, body: { error: 'source-unreadable' }, inflight: 'reset' },
  truncated: { truncate: true },
  flapping: {},
};
const DEFAULT_MISSING_BYTES = 1024;
const MODES = Object.keys(FAULTS);
const HEALTHY = Object.freeze({ mode: 'healthy' });

// Flapping starts in its fault phase when set, then alternates every periodMs.
function effectiveMode(fault, now) {
  if (fault.mode !== 'flapping') return fault.mode;
  return Math.floor((now - fault.setAt) / fault.periodMs) % 2 === 0 ? fault.flapMode : 'healthy';
}

// The fault for this request; a fault with `remaining` (times=N) is used up after N.
function takeFault(session, route) {
  const fault = session.faults[route];
  if (fault.remaining !== undefined && --fault.remaining <= 0) session.faults[route] = HEALTHY;
  return fault;
}

// ---------------------------------------------------------------------------
// Sessions: faults per route, counts of requests received, a request log, the
// sockets of requests still being answered (so a reset can end hung ones), the
// bodies still streaming (so they follow a new fault) and the pacing of clips.

function newSession() {
  return {
    faults: Object.fromEntries(ROUTE_NAMES.map((r) => [r, HEALTHY])),
    // `report` counts the report sink's POSTs; `total` only the media server's routes.
    counts: Object.fromEntries([...ROUTE_NAMES, 'total', 'report'].map((r) => [r, 0])),
    log: [],
    reports: [],
    inflight: new Set(),
    streams: new Set(),
    pacing: { ...DEFAULT_PACING },
    transcodes: new Map(), // sid -> { live }, in minting order
    transcodeSeq: 0,
  };
}

function endInflight(session) {
  for (const socket of session.inflight) socket.destroy();
  session.inflight.clear();
}

// Query parameters whose name mentions "token" (X-Plex-Token...) are redacted.
function redactQuery(search) {
  return search.replace(/([?&][^=&]*token[^=&]*=)[^&]*/gi, '$1REDACTED');
}

// Streams a 2xx video body in chunks, following the route's fault while it does
// (see `inflight` above; a stream cut once stays cut, like a server that died
// mid-stream: the client has to ask again). A clip (`clipBytesPerSecond` set) is
// paced with the session's pacing as it was when the response started: the first
// `burstBytes` at once; after that, at most `rateBps`, and never more than `leadMs`
// of the clip ahead of the time since the response started.
function streamBody(session, route, req, res, reply, entry) {
  const { status, headers, body } = reply;
  const pacing = reply.clipBytesPerSecond ? { ...session.pacing } : null;
  const started = performance.now();
  let sent = 0;
  let timer = null;
  let draining = false;
  let done = false;

  // A response that starts mid-clip (a seek, or a player resuming at the workout's
  // time) gets one more block at once: the browser needs the block after the one it
  // seeks into before it plays, and the lead alone would make it wait ~10 s for it.
  const midClip = /^bytes [1-9]/.test(headers['Content-Range'] ?? '');
  const extra = pacing && midClip ? pacing.burstBytes : 0;
  const allowed = () => {
    if (!pacing) return body.length;
    const seconds = (performance.now() - started) / 1000;
    const byRate = pacing.rateBps > 0 ? pacing.burstBytes + pacing.rateBps * seconds : Infinity;
    const byLead = pacing.leadMs > 0 ? reply.clipBytesPerSecond * (pacing.leadMs / 1000 + seconds) : Infinity;
    return Math.min(body.length, Math.floor(extra + Math.max(pacing.burstBytes, Math.min(byRate, byLead))));
  };
  const finish = () => {
    entry.sent = sent;
    done = true;
    clearTimeout(timer);
    session.streams.delete(stream);
  };
  const pump = () => {
    clearTimeout(timer);
    if (done) return;
    const effect = FAULTS[effectiveMode(session.faults[route], Date.now())].inflight;
    if (effect) {
      entry.cut = effect;
      finish();
      if (effect === 'reset') {
        if (req.socket.resetAndDestroy) req.socket.resetAndDestroy();
        else req.socket.destroy();
      }
      return; // stalled: nothing more is sent; the socket stays until the client, a reset or close() ends it
    }
    if (draining) return;
    const target = allowed();
    while (sent < target) {
      const chunk = body.subarray(sent, Math.min(target, sent + WRITE_CHUNK));
      sent += chunk.length;
      if (!res.write(chunk)) {
        draining = true;
        res.once('drain', () => {
          draining = false;
          pump();
        });
        return;
      }
    }
    if (sent >= body.length) {
      finish();
      res.end();
      return;
    }
    timer = setTimeout(pump, PACE_TICK_MS);
  };
  const stream = { pump };

  session.streams.add(stream);
  res.on('close', finish);
  res.writeHead(status, { ...headers, 'Content-Length': body.length });
  pump();
}

// ---------------------------------------------------------------------------

// The fault server as a request handler: `handle(req, res)` answers every request
// (fault routes under an optional `/s/{session}` prefix, the control API under
// `/__fault/`, 404 otherwise) and never rejects. `close()` ends every request still
// being answered (hung ones, stalled bodies).
export function createFaultHandler() {
  const started = performance.now();
  const sessions = new Map();
  const sessionFor = (name) => {
    if (!sessions.has(name)) sessions.set(name, newSession());
    return sessions.get(name);
  };
  const elapsed = () => Math.round((performance.now() - started) * 1000) / 1000;

  async function serveRoute(req, res, route, match, url, name, prefix) {
    const session = sessionFor(name);
    session.counts[route.name]++;
    session.counts.total++;
    session.inflight.add(req.socket);
    res.on('close', () => session.inflight.delete(req.socket));

    const fault = takeFault(session, route.name);
    const mode = effectiveMode(fault, Date.now());
    const spec = FAULTS[mode];
    const entry = { t: elapsed(), route: route.name, method: req.method, status: null, mode, path: url.pathname + redactQuery(url.search) };
    if (req.headers.range) entry.range = req.headers.range;
    session.log.push(entry);
    if (session.log.length > LOG_LIMIT) session.log.shift();

    if (spec.deliver === 'hang') {
      entry.status = 'hang';
      return; // never answered; the socket stays open until reset/close or the client gives up
    }
    if (spec.deliver === 'reset') {
      entry.status = 'reset';
      if (req.socket.resetAndDestroy) req.socket.resetAndDestroy();
      else req.socket.destroy();
      return;
    }

    const missingBytes = spec.truncate ? fault.missingBytes : 0;
    let reply = spec.status
      ? jsonReply(spec.status, spec.body ?? { error: http.STATUS_CODES[spec.status], fault: mode })
      : await route.handle({ match, query: url.searchParams, headers: req.headers, prefix, session, missingBytes });
    if (spec.deliver === 'empty') reply = { status: 200, headers: { 'Content-Type': reply.headers['Content-Type'] }, body: Buffer.alloc(0) };
    if (spec.retryAfter) reply.headers['Retry-After'] = fault.retryAfter;
    if (mode !== 'healthy') reply.headers['X-Fault-Mode'] = mode;
    entry.status = reply.status;

    const delayMs = 'delayMs' in spec ? fault.delayMs : 0; // not in flapping's healthy phase
    if (delayMs > 0) {
      const answered = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(true), delayMs);
        res.on('close', () => {
          clearTimeout(timer);
          resolve(false);
        });
      });
      if (!answered) return;
    }
    const streamed = route.stream && req.method === 'GET' && reply.status < 300 && reply.body.length > 0;
    if (streamed && spec.deliver !== 'half') streamBody(session, route.name, req, res, reply, entry);
    else send(res, req.method, reply, spec.deliver === 'half');
  }

  // The report sink: stores `{ t, contentType, report }` for a POSTed JSON body
  // (204), at most REPORT_LIMIT per session; 400 for a body that is not JSON.
  async function serveReport(req, res, name) {
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST, OPTIONS');
      return send(res, req.method, jsonReply(405, { error: 'Method Not Allowed' }));
    }
    const session = sessionFor(name);
    session.counts.report++;
    let text = '';
    for await (const part of req) {
      text += part;
      if (text.length > MAX_REPORT_BODY) return send(res, req.method, jsonReply(413, { error: 'report too large' }));
    }
    let report;
    try {
      report = JSON.parse(text);
    } catch {
      return send(res, req.method, jsonReply(400, { error: 'report is not valid JSON' }));
    }
    session.reports.push({ t: elapsed(), contentType: req.headers['content-type'] ?? null, report });
    if (session.reports.length > REPORT_LIMIT) session.reports.shift();
    res.writeHead(204).end();
  }

  // ---- control API -------------------------------------------------------

  const CONTROL = {
    health: () => ({ ok: true }),

    set(p) {
      const session = controlSession(p);
      if (!p.route) throw badParam('route', 'route is required', [...ROUTE_NAMES, 'all']);
      if (p.route !== 'all' && !ROUTE_NAMES.includes(p.route)) throw badParam('route', `unknown route '${p.route}'`, [...ROUTE_NAMES, 'all']);
      if (!p.mode) throw badParam('mode', 'mode is required', MODES);
      if (!MODES.includes(p.mode)) throw badParam('mode', `unknown mode '${p.mode}'`, MODES);
      const fault = parseFault(p);
      for (const route of p.route === 'all' ? ROUTE_NAMES : [p.route]) session.faults[route] = { ...fault };
      for (const stream of [...session.streams]) stream.pump(); // bodies in flight follow at once
      return stateOf(p.session, session, elapsed());
    },

    // Pacing of clip bodies for this session: any of rateBps, burstBytes, leadMs
    // (integers >= 0; 0 = no limit). Applies to responses that start afterwards.
    pace(p) {
      const session = controlSession(p);
      const pacing = { ...session.pacing };
      for (const name of Object.keys(DEFAULT_PACING)) pacing[name] = intParam(p, name, 0) ?? pacing[name];
      session.pacing = pacing;
      return pacing;
    },

    reset(p) {
      if (p.session === undefined) {
        for (const session of sessions.values()) endInflight(session);
        sessions.clear();
        return { ok: true, reset: 'all' };
      }
      const old = sessions.get(controlSessionName(p));
      if (old) endInflight(old);
      sessions.set(p.session, newSession());
      return { ok: true, reset: p.session };
    },

    counts: (p) => controlSession(p).counts,

    // The transcode sessions minted so far; with kill=1, every live one dies first
    // (its playlists and segments answer 404 from then on). { killed, live, dead }.
    transcode(p) {
      const session = controlSession(p);
      const kill = p.kill ?? '0';
      if (kill !== '0' && kill !== '1') throw badParam('kill', `kill must be 1 or 0, got '${kill}'`, ['1', '0']);
      const killed = [];
      for (const [sid, t] of session.transcodes) {
        if (kill === '1' && t.live) {
          t.live = false;
          killed.push(sid);
        }
      }
      const all = [...session.transcodes];
      return { killed, live: all.filter(([, t]) => t.live).map(([sid]) => sid), dead: all.filter(([, t]) => !t.live).map(([sid]) => sid) };
    },

    // The reports the sink received, oldest first: [{ t, contentType, report }].
    reports: (p) => controlSession(p).reports,

    state: (p) => stateOf(p.session, controlSession(p), elapsed()),

    log(p) {
      const session = controlSession(p);
      if (p.since === undefined) return session.log;
      const since = Number(p.since);
      if (p.since === '' || !Number.isFinite(since)) throw badParam('since', `since must be a number of ms, got '${p.since}'`);
      return session.log.filter((e) => e.t > since);
    },
  };

  function controlSessionName(p) {
    p.session ??= 'default';
    if (!SESSION_NAME.test(p.session)) throw badParam('session', `session must match ${SESSION_NAME}, got '${p.session}'`);
    return p.session;
  }
  const controlSession = (p) => sessionFor(controlSessionName(p));

  async function control(req, res, url) {
    const endpoint = url.pathname.slice('/__fault/'.length);
    const handler = Object.hasOwn(CONTROL, endpoint) && CONTROL[endpoint];
    if (!handler) return send(res, req.method, jsonReply(404, { error: 'unknown control endpoint', endpoints: Object.keys(CONTROL) }));
    if (req.method !== 'GET' && req.method !== 'POST') return send(res, req.method, jsonReply(405, { error: 'use GET or POST' }));
    try {
      const params = { ...Object.fromEntries(url.searchParams), ...(req.method === 'POST' ? await readJsonBody(req) : {}) };
      for (const [k, v] of Object.entries(params)) params[k] = String(v);
      const reply = jsonReply(200, handler(params));
      reply.headers['Cache-Control'] = 'no-store';
      send(res, req.method, reply);
    } catch (err) {
      if (!err.parameter) throw err;
      send(res, req.method, jsonReply(400, { error: err.message, parameter: err.parameter, ...(err.allowed && { allowed: err.allowed }) }));
    }
  }

  // ---- dispatch ----------------------------------------------------------

  async function dispatch(req, res) {
    setCors(req, res);
    if (req.method === 'OPTIONS') {
      res.writeHead(204).end();
      return;
    }
    const url = new URL(`http://localhost${req.url.startsWith('/') ? req.url : `/${req.url}`}`);
    if (url.pathname.startsWith('/__fault/')) return control(req, res, url);

    const prefixed = SESSION_PREFIX.exec(url.pathname);
    const [name, prefix, rest] = prefixed ? [prefixed[1], `/s/${prefixed[1]}`, prefixed[2]] : ['default', '', url.pathname];
    if (REPORT_PATH.test(rest)) return serveReport(req, res, name);
    for (const route of ROUTES) {
      const match = route.pattern.exec(rest);
      if (!match) continue;
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD, OPTIONS');
        return send(res, req.method, jsonReply(405, { error: 'Method Not Allowed' }));
      }
      return serveRoute(req, res, route, match, url, name, prefix);
    }
    send(res, req.method, jsonReply(404, { error: 'Not Found', path: url.pathname }));
  }

  return {
    handle: (req, res) =>
      dispatch(req, res).catch((err) => {
        if (res.headersSent) res.destroy();
        else send(res, req.method, jsonReply(500, { error: String(err?.message ?? err) }));
      }),
    close() {
      for (const session of sessions.values()) endInflight(session);
    },
  };
}

// The fault server on its own: resolves { url, port, close() } once listening.
export function startFaultServer({ port = 8787, host = '127.0.0.1' } = {}) {
  const faults = createFaultHandler();
  return listen(http.createServer(faults.handle), port, host, faults);
}

// Listens on host:port; `close()` stops the server and ends every connection,
// including hung and stalled ones.
export function listen(server, port, host, faults) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const actualPort = server.address().port;
      resolve({
        url: `http://${host}:${actualPort}`,
        port: actualPort,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            faults.close();
            server.closeAllConnections();
          }),
      });
    });
  });
}

function parseFault(p) {
  const fault = { mode: p.mode };
  if (p.mode === 'flapping') {
    fault.flapMode = p.flapMode ?? 'unavailable';
    if (fault.flapMode === 'flapping' || !MODES.includes(fault.flapMode)) {
      throw badParam('flapMode', `flapMode must be a mode other than flapping, got '${fault.flapMode}'`, MODES.filter((m) => m !== 'flapping'));
    }
    fault.periodMs = intParam(p, 'periodMs', 1) ?? 2000;
    fault.setAt = Date.now();
  }
  const applied = FAULTS[fault.flapMode ?? p.mode];
  if ('delayMs' in applied) fault.delayMs = intParam(p, 'delayMs', 0) ?? applied.delayMs;
  if (applied.truncate) fault.missingBytes = intParam(p, 'missingBytes', 0) ?? DEFAULT_MISSING_BYTES;
  if (applied.retryAfter) {
    fault.retryAfter = p.retryAfter ?? '1';
    if (!/^[\x20-\x7e]{1,100}$/.test(fault.retryAfter)) throw badParam('retryAfter', 'retryAfter must be 1-100 printable ASCII characters');
  }
  const times = intParam(p, 'times', 1);
  if (times !== undefined) fault.remaining = times;
  return fault;
}

function intParam(p, name, min) {
  if (p[name] === undefined) return undefined;
  const n = Number(p[name]);
  if (p[name] === '' || !Number.isInteger(n) || n < min) throw badParam(name, `${name} must be an integer >= ${min}, got '${p[name]}'`);
  return n;
}

function badParam(parameter, message, allowed) {
  return Object.assign(new Error(message), { parameter, allowed });
}

// `t` is the server's clock, the one the log's `t` uses (ms since it started).
function stateOf(name, session, t) {
  const routes = Object.fromEntries(Object.entries(session.faults).map(([r, { setAt, ...fault }]) => [r, fault]));
  return { session: name, t, routes, pacing: session.pacing };
}

async function readJsonBody(req) {
  let text = '';
  for await (const part of req) {
    text += part;
    if (text.length > MAX_CONTROL_BODY) throw badParam('body', 'body too large');
  }
  if (text.trim() === '') return {};
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw badParam('body', 'body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badParam('body', 'body must be a JSON object');
  return value;
}

function setCors(req, res) {
  const requested = req.headers['access-control-request-headers'];
  res.setHeader('Access-Control-Allow-Origin', '*');
  res.setHeader('Access-Control-Allow-Headers', requested ? `*, ${requested}` : '*');
  res.setHeader('Access-Control-Allow-Methods', 'GET, HEAD, POST, OPTIONS');
  res.setHeader('Access-Control-Expose-Headers', 'Retry-After, Content-Range, Accept-Ranges, Content-Length, X-Fault-Mode, X-Transcode-Session');
  res.setHeader('Access-Control-Max-Age', '600');
  res.setHeader('Timing-Allow-Origin', '*');
  if (req.headers['access-control-request-private-network'] === 'true') {
    res.setHeader('Access-Control-Allow-Private-Network', 'true');
  }
}

// Sends a reply; with `half`, only the first half of the body, and the response
// is never ended (the body stalls until the client, a reset or close() gives up).
function send(res, method, { status, headers, body }, half = false) {
  res.writeHead(status, { ...headers, 'Content-Length': body.length });
  if (!half) {
    res.end(method === 'HEAD' ? undefined : body);
    return;
  }
  res.flushHeaders();
  if (method !== 'HEAD') res.write(body.subarray(0, Math.floor(body.length / 2)));
}

// ---------------------------------------------------------------------------
// Command line.

// The port from `--port N`, `--port=N` or env PORT, else `fallback`.
export function cliPort(argv, env, fallback = 8787) {
  const i = argv.findIndex((a) => a === '--port' || a.startsWith('--port='));
  const text = i < 0 ? env.PORT ?? String(fallback) : argv[i].startsWith('--port=') ? argv[i].slice(7) : argv[i + 1];
  const port = Number(text);
  if (text === undefined || text === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`port must be an integer 0-65535, got '${text}'`);
  }
  return port;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { url, close } = await startFaultServer({ port: cliPort(process.argv.slice(2), process.env) });
    console.log(`fault server listening on ${url}`);
    const stop = () => close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  } catch (err) {
    console.error(`fault server: ${err.message}`);
    process.exit(1);
  }
}
