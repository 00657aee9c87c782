// The demo fitness session: a player page that uses the built package exactly as
// a real frontend does, against the fault server on the same origin.
//
// The workout (its clock and the video, with sound) starts with the "Start
// workout" button.
//
// Query parameters:
//   session=NAME   the fault server session for every media URL (/s/NAME/...); default "demo"
//   config=JSON    overrides merged into createResilience({ enabled: true, ...overrides })
//   resume=stopped resume the video where it stopped instead of at the workout's time
//   prefetch=N     seek thumbnails cached ahead of the playhead (attachVideo's
//                  prefetch.ahead; the module's default is 12)
//   player=NAME    how the video plays: progressive (the default: the element's own
//                  src), shaka, dashjs, dashvideo (<dash-video>) or hlsjs: the library
//                  from /lib/ through the package's adapter, over the proxy's Plex
//                  transcode URLs (a fresh transcode session on every load)
//
// Reports to the backend go to the fault server's sink for this session
// (`report.url` = /s/NAME/api/v1/player/report); the panel lists what it received.
//
// For end-to-end tests: window.demo = { r, video, clock, switchMedia, setFault, events, ... }.

import { createResilience } from '/pkg/index.js';
import { COLORS, Timeline } from '/demo/timeline.js';

const $ = (selector) => document.querySelector(selector);

const SESSION_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const QUEUE = [
  { id: '101', title: 'Full-body HIIT' },
  { id: '102', title: 'Core & stretch' },
];
const EXERCISES = ['Warm-up march', 'Squats', 'Push-ups', 'Plank', 'Lunges', 'Mountain climbers', 'Burpees', 'Cool-down stretch'];
const EXERCISE_SECONDS = 30;
const HEARTBEAT_MS = 10_000;
const POLL_MS = 1000;
const EVENT_LINES = 200;

// Fault buttons -> the fault server's modes, applied to every route of the session.
const FAULTS = {
  healthy: { label: 'healthy', query: 'mode=healthy' },
  hang: { label: 'hang', query: 'mode=hang' },
  504: { label: '504 storm', query: 'mode=gateway-timeout&delayMs=2500' },
  down: { label: 'down', query: 'mode=reset' },
  slow: { label: 'slow', query: 'mode=slow-headers&delayMs=5000' },
  flapping: { label: 'flapping', query: 'mode=flapping&flapMode=unavailable&periodMs=5000' },
  'retry-after': { label: 'Retry-After', query: 'mode=retry-after&retryAfter=10' },
};
const FAULT_OF_MODE = {
  healthy: 'healthy',
  hang: 'hang',
  'gateway-timeout': '504',
  reset: 'down',
  'slow-headers': 'slow',
  flapping: 'flapping',
  'retry-after': 'retry-after',
};

// ---- session clock and cue ---------------------------------------------------

// The workout starts with the "Start workout" button (a user gesture, so the
// video plays with sound under the browser's default autoplay policy).
let sessionStart = null;
const clock = () => (sessionStart === null ? 0 : (performance.now() - sessionStart) / 1000);

function formatTime(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const mmss = `${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss}` : mmss;
}

function renderClock() {
  const seconds = clock();
  $('#clock').textContent = formatTime(seconds);
  const index = Math.floor(seconds / EXERCISE_SECONDS);
  const into = seconds - index * EXERCISE_SECONDS;
  const cue = $('#cue');
  cue.querySelector('.exercise').textContent = EXERCISES[index % EXERCISES.length];
  cue.querySelector('.left').textContent = `${Math.ceil(EXERCISE_SECONDS - into)} s left`;
  cue.querySelector('.bar i').style.width = `${(into / EXERCISE_SECONDS) * 100}%`;
  cue.querySelector('.next').textContent = `Next: ${EXERCISES[(index + 1) % EXERCISES.length]}`;
}

// ---- page state and logs ------------------------------------------------------

const params = new URLSearchParams(location.search);
const requestedSession = params.get('session') ?? 'demo';
const SESSION = SESSION_NAME.test(requestedSession) ? requestedSession : 'demo';
const PREFIX = `/s/${SESSION}`;
const events = [];
let current = QUEUE[0].id;

const timeline = new Timeline($('#timeline'), {
  lanes: [
    { id: 'fault', label: 'fault', kind: 'band' },
    { id: 'server', label: 'server', kind: 'ticks' },
    { id: 'client', label: 'client', kind: 'ticks' },
    { id: 'probe', label: 'probes', kind: 'ticks' },
    { id: 'plex', label: 'plex', kind: 'band' },
    { id: 'api', label: 'api', kind: 'band' },
    { id: 'video', label: 'video', kind: 'band' },
  ],
});

function log(kind, text, level = 'info') {
  const li = document.createElement('li');
  li.dataset.level = level;
  li.innerHTML = '<time></time><b></b><span></span>';
  li.children[0].textContent = formatTime(clock());
  li.children[1].textContent = kind;
  li.children[2].textContent = text;
  li.title = `${kind}: ${text}`;
  const list = $('#events');
  list.prepend(li);
  while (list.children.length > EVENT_LINES) list.lastElementChild.remove();
}

function showError(title, err) {
  const el = $('#error');
  const parts = [title];
  if (err?.code) parts.push(`code ${err.code}`);
  if (err?.field) parts.push(`field ${err.field}`);
  el.textContent = `${parts.join(' · ')}: ${err?.message ?? err}`;
  el.hidden = false;
}

const stateLabel = (state) => (state === 'halfOpen' ? 'half-open' : state);
const seconds = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;

// ---- the module -------------------------------------------------------------

let configError = null;
let overrides = {};
try {
  const text = params.get('config');
  if (text !== null) {
    overrides = JSON.parse(text);
    if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) {
      throw Object.assign(new Error('?config must be a JSON object'), { code: 'CONFIG', field: '(config)' });
    }
  }
} catch (err) {
  configError = { code: 'CONFIG', field: err.field ?? '(config)', message: err instanceof SyntaxError ? `?config is not valid JSON: ${err.message}` : err.message };
  overrides = null;
}

let r = null;
if (overrides) {
  try {
    // The probe goes to this page's fault session, like every media URL.
    const services = [
      { name: 'plex', match: ['/api/v1/proxy/plex/', '/api/v1/display/plex/'], probeUrl: `${PREFIX}/api/v1/proxy/plex/identity`, breaker: { failureThreshold: 3 } },
      { name: 'api', match: ['/api/v1/'] },
    ];
    // Breaker and fallback reports go to the backend's sink (the fault server, per session).
    const report = { url: `${PREFIX}/api/v1/player/report` };
    r = createResilience({ enabled: true, services, report, ...overrides });
    await r.ready; // an invalid config rejects it
  } catch (err) {
    configError = { code: err.code, field: err.field, rule: err.rule, message: err.message };
    r = null;
  }
}
if (configError) showError('Invalid resilience config', configError);

$('#session-name').textContent = SESSION;
$('#build').textContent = r ? 'module on' : 'module off';

// Every event, in order, for tests and the panel.
function record(name, event) {
  const t = performance.now();
  events.push({ t, name, event });
  switch (name) {
    case 'state':
      breakerStates.set(event.service, event.to);
      if (timeline.lanes.some((l) => l.id === event.service)) timeline.set(event.service, t, event.to, stateLabel(event.to));
      timeline.marker(t, COLORS[event.to] ?? COLORS.fault, `${event.service} ${event.to}`);
      log('breaker', `${event.service}: ${stateLabel(event.from)} → ${stateLabel(event.to)}`, event.to === 'closed' ? 'good' : 'warn');
      renderBreakers();
      break;
    case 'retry':
      timeline.tick('client', t, COLORS.retry);
      log('retry', `${event.service} attempt ${event.attempt} in ${seconds(event.delayMs)}${event.status ? ` after ${event.status}` : ''}`);
      break;
    case 'probe':
      timeline.tick('probe', t, event.healthy ? COLORS.probe : COLORS.failed, !event.healthy);
      log('probe', `${event.service} ${event.healthy ? 'healthy' : 'failed'}`, event.healthy ? 'good' : 'warn');
      break;
    case 'notice':
      timeline.tick('client', t, COLORS.notice, true);
      log('notice', `${event.key}: ${event.text}`, event.severity === 'error' ? 'error' : event.severity === 'warning' ? 'warn' : 'info');
      break;
    case 'fallback':
      if (event.type === 'frame') {
        const f = event.frame;
        log('fallback', `frame ${formatTime((f?.offsetMs ?? 0) / 1000)} of ${event.mediaId} (${f?.source ?? '?'})`);
      } else {
        log('fallback', `${event.type} for ${event.mediaId} at ${formatTime(event.sessionSeconds ?? clock())}`, event.type === 'enter' ? 'warn' : 'good');
      }
      break;
    case 'metrics':
      metrics = event;
      renderBreakers();
      break;
  }
}

const breakerStates = new Map();
let metrics = null;
if (r) {
  for (const name of ['notice', 'state', 'retry', 'probe', 'metrics', 'fallback']) r.on(name, (event) => record(name, event));
  metrics = r.metrics();
  for (const s of metrics?.services ?? []) {
    breakerStates.set(s.name, s.state);
    if (timeline.lanes.some((l) => l.id === s.name)) timeline.set(s.name, performance.now(), s.state, stateLabel(s.state));
  }
}

// ---- notices ------------------------------------------------------------------

const removeToasts = r ? r.renderToasts($('#notices')) : null;

// ---- video ------------------------------------------------------------------

const PLAYERS = ['progressive', 'shaka', 'dashjs', 'dashvideo', 'hlsjs'];
const PLAYER = PLAYERS.includes(params.get('player')) ? params.get('player') : 'progressive';
const TRANSCODE = `${PREFIX}/api/v1/proxy/plex/video/:/transcode/universal`;

const loadScript = (src) =>
  new Promise((resolve, reject) => {
    const script = document.createElement('script');
    script.src = src;
    script.onload = resolve;
    script.onerror = () => reject(new Error(`could not load ${src}`));
    document.head.append(script);
  });

/** The streaming library `name` made on `video`: { adapter, video (the element to watch), ext }. */
async function streamingPlayer(name, video) {
  switch (name) {
    case 'shaka': {
      await loadScript('/lib/shaka-player.compiled.js');
      const { shakaPlayer } = await import('/pkg/shaka.js');
      const { shaka } = window;
      shaka.polyfill.installAll();
      const player = new shaka.Player();
      await player.attach(video);
      return { adapter: shakaPlayer(player, { shaka }), video, ext: 'mpd' };
    }
    case 'dashjs': {
      const dashjs = await import('/lib/dash.all.min.js');
      const { dashjsPlayer } = await import('/pkg/dashjs.js');
      const player = dashjs.MediaPlayer().create();
      player.updateSettings({ debug: { logLevel: 1 } }); // errors only
      player.initialize(video, null, false);
      return { adapter: dashjsPlayer(player), video, ext: 'mpd' };
    }
    case 'dashvideo': {
      await import('/lib/dash-video-element.js');
      const { dashVideoPlayer } = await import('/pkg/dashjs.js');
      const element = document.createElement('dash-video');
      for (const { name: attribute, value } of video.attributes) element.setAttribute(attribute, value);
      video.replaceWith(element);
      return { adapter: dashVideoPlayer(element), video: element.nativeEl, ext: 'mpd' };
    }
    case 'hlsjs': {
      const { default: Hls } = await import('/lib/hls.min.mjs');
      const { hlsPlayer } = await import('/pkg/hlsjs.js');
      const player = new Hls();
      player.attachMedia(video);
      return { adapter: hlsPlayer(player), video, ext: 'm3u8' };
    }
    default:
      return null;
  }
}

let stream = null;
try {
  stream = await streamingPlayer(PLAYER, $('#video'));
} catch (err) {
  showError(`The ${PLAYER} player could not start; playing the progressive video`, err);
}
const videoEl = stream?.video ?? $('#video');
$('#player').value = stream ? PLAYER : 'progressive';
$('#player').addEventListener('change', (e) => {
  const query = new URLSearchParams(location.search);
  query.set('player', e.target.value);
  location.search = query.toString();
});

// A streaming item's src is a function: every load, reload and resume starts a
// fresh transcode session (what the reference frontend's backend does).
let starts = 0;
const mediaFor = (id) => ({
  id,
  src: stream
    ? () => `${TRANSCODE}/start.${stream.ext}?path=/library/metadata/${encodeURIComponent(id)}&n=${++starts}`
    : `${PREFIX}/api/v1/proxy/plex/stream/${encodeURIComponent(id)}`,
  poster: `${PREFIX}/api/v1/display/plex/${encodeURIComponent(id)}`,
});
const thumbnailAt = (mediaId, secondsAt) =>
  `${PREFIX}/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/${encodeURIComponent(mediaId)}/indexes/sd/${Math.floor(secondsAt) * 1000}`;

// Without the module (a config error), the page plays the video itself.
const unmanagedVideo = (el) => ({
  state: 'unmanaged',
  load(media) {
    el.poster = media.poster;
    if (stream) stream.adapter.load(media.src('load'), 0).catch((err) => log('video', `load failed: ${err?.message ?? err?.code}`, 'error'));
    else el.src = media.src;
  },
  dispose() {},
});

let handle = null;
try {
  handle = r?.attachVideo(videoEl, {
    media: mediaFor(current),
    thumbnailAt,
    sessionClock: clock,
    resume: params.get('resume') === 'stopped' ? 'stopped' : 'session',
    ...(params.has('prefetch') && { prefetch: { ahead: Number(params.get('prefetch')) } }),
    overlay: $('#overlay'),
    ...(stream && { player: stream.adapter }),
  });
} catch (err) {
  showError('attachVideo failed', err);
}
if (!handle) {
  handle = unmanagedVideo(videoEl);
  handle.load(mediaFor(current));
}
preloadNext();
// play() from the start button and on a media switch. A play() the browser
// refuses later (an automatic reload on a kiosk) is the module's "Tap to resume".
const play = () => videoEl.play().catch(() => {});
function start() {
  if (sessionStart !== null) return;
  sessionStart = performance.now();
  $('#start').hidden = true;
  play();
  log('page', 'workout started');
}
$('#start').addEventListener('click', start);

// What the page sees of the video: the handle's state, or for an unmanaged video
// whether currentTime moved in the last 1.2 s.
let lastVideoTime = -1;
let lastProgressAt = performance.now();
function videoState() {
  const now = performance.now();
  if (videoEl.currentTime !== lastVideoTime) {
    lastVideoTime = videoEl.currentTime;
    lastProgressAt = now;
  }
  if (handle.state !== 'unmanaged') return handle.state;
  return videoEl.paused || now - lastProgressAt < 1200 ? 'playing' : 'stalled';
}

// Where the video is, how much of it the browser holds ahead (the server paces
// it), how the last metadata heartbeat went, and what reached the server lately.
const serverTicks = [];
function renderStats() {
  const now = performance.now();
  const t = videoEl.currentTime;
  $('#stat-position').textContent = formatTime(t);
  let ahead = 0;
  for (let i = 0; i < videoEl.buffered.length; i++) {
    if (videoEl.buffered.start(i) <= t + 0.5 && videoEl.buffered.end(i) > t) ahead = videoEl.buffered.end(i) - t;
  }
  $('#stat-buffered').textContent = `${ahead.toFixed(1)} s`;
  const hb = $('#stat-heartbeat');
  const waiting = metadata && now - metadata.since > 1000 ? Math.round((now - metadata.since) / 1000) : 0;
  if (waiting) hb.textContent = `waiting ${waiting} s…`;
  else if (heartbeat) hb.textContent = heartbeat.ok ? `ok, ${Math.round((now - heartbeat.at) / 1000)} s ago` : heartbeat.text;
  hb.classList.toggle('bad', Boolean(!waiting && heartbeat && !heartbeat.ok));
  hb.classList.toggle('slow', Boolean(waiting));
  while (serverTicks.length && serverTicks[0] < now - 10_000) serverTicks.shift();
  $('#stat-requests').textContent = String(serverTicks.length);
}

function renderVideoState() {
  const state = videoState();
  const chip = $('#video-state');
  chip.textContent = handle.state === 'unmanaged' ? `${state} · unmanaged` : state;
  chip.dataset.state = state;
  timeline.set('video', performance.now(), state);
}

// ---- media queue and metadata ---------------------------------------------------

let metadata = null; // { controller, id, since }: the request in flight
let heartbeat = null; // { ok, at, text }: how the last one ended

function queueSub(id, text) {
  const sub = $('#queue').querySelector(`[data-id="${CSS.escape(id)}"] .sub`);
  if (sub) sub.textContent = `#${id} · ${text}`;
}

async function loadMetadata(id, why) {
  metadata?.controller.abort();
  const controller = new AbortController();
  metadata = { controller, id, since: performance.now() };
  const url = `${PREFIX}/api/v1/play/${encodeURIComponent(id)}`;
  try {
    const res = await (r ? r.fetch(url, { signal: controller.signal }) : fetch(url, { signal: controller.signal }));
    if (!res.ok) throw Object.assign(new Error(`HTTP ${res.status}`), { code: `HTTP ${res.status}` });
    const meta = await res.json();
    heartbeat = { ok: true, at: performance.now(), text: meta.title };
    queueSub(id, meta.title);
    if (why !== 'heartbeat') log('metadata', `${meta.title} (${why})`, 'muted');
  } catch (err) {
    if (controller.signal.aborted) return; // superseded by a newer request
    timeline.tick('client', performance.now(), COLORS.failed, true);
    const retry = Number.isFinite(err.retryAfterMs) ? `, retry in ${seconds(err.retryAfterMs)}` : '';
    heartbeat = { ok: false, at: performance.now(), text: err.code ?? err.name };
    queueSub(id, `metadata: ${err.code ?? err.name}`);
    log('metadata', `${why}: ${err.code ?? err.name}${err.service ? ` (${err.service}${retry})` : ''}`, 'error');
  } finally {
    if (metadata?.controller === controller) metadata = null;
  }
}

function renderQueue() {
  const list = $('#queue');
  if (!list.children.length) {
    for (const item of QUEUE) {
      const li = document.createElement('li');
      li.dataset.id = item.id;
      li.innerHTML = '<span class="thumb"></span><span class="text"><span class="title"></span><span class="sub"></span></span>';
      li.querySelector('.thumb').style.backgroundImage = `url("${mediaFor(item.id).poster}")`;
      li.querySelector('.title').textContent = item.title;
      li.querySelector('.sub').textContent = `#${item.id}`;
      li.addEventListener('click', () => switchMedia(item.id));
      list.append(li);
    }
  }
  for (const li of list.children) li.classList.toggle('current', li.dataset.id === current);
}

/** The queue's item after the current one: the module warms its first frames (`preload`). */
function preloadNext() {
  const next = QUEUE[(QUEUE.findIndex((item) => item.id === current) + 1) % QUEUE.length];
  const { id, poster } = mediaFor(next.id);
  handle.preload?.({ id, poster });
}

function switchMedia(id) {
  current = String(id);
  handle.load(mediaFor(current));
  preloadNext();
  if (sessionStart !== null) play();
  renderQueue();
  log('media', `switched to ${current}`);
  return loadMetadata(current, 'switch');
}

$('#next').addEventListener('click', () => {
  const i = QUEUE.findIndex((q) => q.id === current);
  switchMedia(QUEUE[(i + 1) % QUEUE.length].id);
});

// ---- faults -------------------------------------------------------------------

function showFault(name, label = FAULTS[name]?.label ?? name) {
  for (const button of document.querySelectorAll('[data-fault]')) {
    const on = button.dataset.fault === name;
    button.classList.toggle('active', on);
    button.setAttribute('aria-pressed', String(on));
  }
  const active = $('#fault-active');
  active.dataset.name = name;
  active.textContent = label;
  active.classList.toggle('bad', name !== 'healthy');
  timeline.set('fault', performance.now(), name === 'healthy' ? 'none' : 'fault', name === 'healthy' ? '' : label);
}

// The fault a server state shows: a button's, or the video route's raw mode.
function faultOfState(state) {
  const modes = new Set(Object.values(state.routes).map((f) => f.mode));
  const mode = state.routes.video?.mode ?? 'healthy';
  return modes.size === 1 && FAULT_OF_MODE[mode] ? FAULT_OF_MODE[mode] : modes.size === 1 ? mode : 'mixed';
}

async function setFault(name) {
  const fault = FAULTS[name];
  if (!fault) throw new Error(`unknown fault '${name}' (one of ${Object.keys(FAULTS).join(', ')})`);
  const res = await fetch(`/__fault/set?session=${encodeURIComponent(SESSION)}&route=all&${fault.query}`, { cache: 'no-store' });
  const state = await res.json();
  if (!res.ok) throw new Error(state.error ?? `HTTP ${res.status}`);
  showFault(name);
  log('fault', `server: ${fault.label}`, name === 'healthy' ? 'good' : 'warn');
  return state;
}

for (const button of document.querySelectorAll('[data-fault]')) {
  button.addEventListener('click', () => setFault(button.dataset.fault).catch((err) => log('fault', err.message, 'error')));
}
$('#fault-kill-transcode').addEventListener('click', async () => {
  try {
    const { killed } = await control('transcode', '&kill=1');
    log('fault', `server: ${killed.length} transcode session${killed.length === 1 ? '' : 's'} killed (404 from now on)`, 'warn');
  } catch (err) {
    log('fault', err.message, 'error');
  }
});
$('#retry-now').addEventListener('click', () => {
  if (!r) return;
  r.retryNow();
  log('page', 'retry now', 'muted');
});

// ---- panel ------------------------------------------------------------------------

function renderBreakers() {
  const rows = [];
  const services = metrics?.services ?? [...breakerStates.keys()].map((name) => ({ name, classes: [] }));
  for (const s of services) {
    const state = breakerStates.get(s.name) ?? s.state;
    const sum = (field) => (s.classes ?? []).reduce((n, c) => n + (c[field] ?? 0), 0);
    rows.push(
      `<tr><td>${escapeHtml(s.name)}</td><td><span class="state ${escapeHtml(state)}">${escapeHtml(stateLabel(state))}</span></td>` +
        `<td>${sum('requests')}</td><td>${sum('failures')}</td><td>${sum('retries')}</td><td>${sum('rejected')}</td></tr>`,
    );
  }
  $('#breakers').innerHTML = rows.join('') || `<tr><td colspan="6" class="muted">${r ? 'no services' : 'module not started'}</td></tr>`;
}

// What the backend's report sink received for this session, newest first.
let reports = [];
const REPORT_LINES = 8;
function renderReports(list) {
  const fresh = list.slice(reports.length);
  reports = list;
  for (const { report: b } of fresh) {
    log('report', `${b.event} ${b.service} ${b.state}${b.mediaId ? ` (${b.mediaId})` : ''}${b.suppressed ? `, ${b.suppressed} merged` : ''}`, b.state === 'closed' || b.state === 'exit' ? 'good' : 'warn');
  }
  $('#report-count').textContent = String(list.length);
  $('#reports').innerHTML =
    list
      .slice(-REPORT_LINES)
      .reverse()
      .map(({ report: b }) => {
        const at = new Date(b.at).toLocaleTimeString();
        const merged = b.suppressed ? ` <i>+${b.suppressed} merged</i>` : '';
        return `<li><time>${escapeHtml(at)}</time><b>${escapeHtml(b.event)}</b><span>${escapeHtml(b.service)} ${escapeHtml(b.state)}${b.mediaId ? ` · ${escapeHtml(b.mediaId)}` : ''} · page ${escapeHtml(b.page)}${merged}</span></li>`;
      })
      .join('') || `<li class="muted">${r ? 'none yet: reports come on breaker and fallback changes' : 'module not started'}</li>`;
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The server's view: its counts, its state (which fault), and its request log
// on the timeline. Its clock (`t`, ms) is mapped to ours through the state poll
// with the shortest round trip.
let serverOffset = null;
let bestRtt = Infinity;
let logSince = null;

async function control(endpoint, query = '') {
  const res = await fetch(`/__fault/${endpoint}?session=${encodeURIComponent(SESSION)}${query}`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`/__fault/${endpoint}: HTTP ${res.status}`);
  return res.json();
}

async function pollServer() {
  const sent = performance.now();
  const state = await control('state');
  const rtt = performance.now() - sent;
  if (rtt <= bestRtt) {
    bestRtt = rtt;
    serverOffset = state.t - (sent + rtt / 2);
  }
  const name = faultOfState(state);
  if ($('#fault-active').dataset.name !== name) showFault(name); // changed by someone else

  const counts = await control('counts');
  $('#server-counts').innerHTML =
    '<b>server received</b> ' +
    ['video', 'manifest', 'segment', 'metadata', 'thumbnail', 'poster', 'identity', 'total']
      .map((route) => `<span>${route} <b>${counts[route] ?? 0}</b></span>`)
      .join('');

  renderReports(await control('reports'));

  const entries = await control('log', logSince === null ? '' : `&since=${logSince}`);
  for (const e of entries) {
    logSince = Math.max(logSince ?? 0, e.t);
    const t = e.t - serverOffset;
    const failed = e.status === 'reset' || e.status >= 500 || e.status === 429 || e.cut === 'reset';
    const hung = e.status === 'hang' || e.cut === 'stall';
    const color = failed ? COLORS.failed : hung ? COLORS.hung : e.route === 'identity' ? COLORS.probe : COLORS.ok;
    timeline.tick(e.route === 'identity' ? 'probe' : 'server', t, color, failed || hung);
    serverTicks.push(t);
  }
  if (r) {
    metrics = r.metrics() ?? metrics;
    renderBreakers();
  }
}

async function pollLoop() {
  for (;;) {
    try {
      await pollServer();
    } catch (err) {
      $('#server-counts').textContent = `server: ${err.message}`;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

// ---- start ------------------------------------------------------------------------

renderQueue();
renderBreakers();
renderClock();
renderVideoState();
setInterval(() => {
  renderClock();
  renderVideoState();
  renderStats();
}, 250);
setInterval(() => timeline.draw(performance.now()), 250);
setInterval(() => {
  if (!metadata) loadMetadata(current, 'heartbeat');
}, HEARTBEAT_MS);
loadMetadata(current, 'start');
pollLoop();
log('page', `session ${SESSION}; player ${stream ? PLAYER : 'progressive'}; ${r ? 'module on' : 'module not started; video unmanaged'}`, 'muted');

window.demo = {
  r,
  video: handle,
  clock,
  start,
  switchMedia,
  setFault,
  events,
  session: SESSION,
  player: stream ? PLAYER : 'progressive',
  error: configError,
  get media() {
    return current;
  },
  get reports() {
    return reports;
  },
  removeToasts,
};
