// Compile-only checks of the package's types (`tsc -p tests/types`): what a player
// writes must type-check, and the mistakes marked @ts-expect-error must not.
import {
  createResilience,
  validateConfig,
  type ResilienceConfig,
  type ResilienceError,
  type NoticeEvent,
  type Snapshot,
  type FallbackEvent,
  type VideoHandle,
  type VideoState,
} from 'player-resilience';

const config: ResilienceConfig = {
  enabled: true,
  timeouts: { videoMs: 30_000 },
  retry: { maxAttempts: 3, jitter: 'full' },
  notices: { messages: { restored: 'Video is back!' } },
  services: [{ name: 'plex', match: ['/api/v1/proxy/plex/'], probeUrl: '/api/v1/proxy/plex/identity' }],
};
const validated: Promise<void> = validateConfig(config);
const r = createResilience(config);
const ready: Promise<void> = r.ready;

async function load(): Promise<number> {
  try {
    const response: Response = await r.fetch('/api/v1/play/1', { signal: new AbortController().signal });
    return response.status;
  } catch (e) {
    const error = e as ResilienceError;
    if (error.code === 'BREAKER_OPEN') return error.retryAfterMs ?? -1;
    if (error.code === 'RETRIES_EXHAUSTED') return error.status ?? error.attempts ?? 0;
    return 0;
  }
}

const off: () => void = r.on('notice', (n: NoticeEvent) => console.log(n.text.toUpperCase(), n.durationMs + 1));
r.on('state', (e) => e.to === 'halfOpen' || e.from === 'isolated');
r.on('retry', (e) => e.delayMs.toFixed(0) + e.url);
r.on('metrics', (m) => m.services.map((s) => s.classes.map((c) => c.latency.counts.length)));
off();
const snapshot: Snapshot = r.snapshot();
snapshot.services.forEach((s) => s.breaker.openRemainingMs.toFixed());
const known: boolean = r.reset('plex') && r.isolate('plex');
r.retryNow();
const video = document.createElement('video');
const handle: VideoHandle = r.attachVideo(video, {
  media: { id: '101', src: '/api/v1/proxy/plex/stream/101', poster: '/api/v1/display/plex/101' },
  thumbnailAt: (id, seconds) => `/api/v1/proxy/plex/photo/:/transcode?url=/library/parts/${id}/indexes/sd/${seconds * 1000}`,
  sessionClock: () => performance.now() / 1000,
  resume: 'stopped',
  overlay: document.body,
  prefetch: { ahead: 6, maxBytes: 1 << 20 },
});
handle.load({ id: '102', src: '/api/v1/proxy/plex/stream/102' });
handle.preload({ id: '103', poster: '/api/v1/display/plex/103' });
const watched: Promise<void> = handle.ready;
const state: VideoState = handle.state;
r.on('fallback', (e: FallbackEvent) => e.frame?.source === 'poster' || e.type === 'exit' || e.mediaId === state);
const stopToasts: () => void = r.renderToasts();
stopToasts();
handle.dispose();
r.dispose();
void load();
void known;
void validated;
void ready;
void watched;

// @ts-expect-error: resume is session or stopped
r.attachVideo(video, { thumbnailAt: () => '', sessionClock: () => 0, resume: 'start' });
// @ts-expect-error: sessionClock is required
r.attachVideo(video, { thumbnailAt: () => '' });
// @ts-expect-error: a media item needs a src
handle.load({ id: '103' });
// @ts-expect-error: preload needs the item's id
handle.preload({ poster: '/p' });
// @ts-expect-error: unknown event name
r.on('noticed', () => {});
// @ts-expect-error: a notice has no `to`
r.on('notice', (n) => n.to);
// @ts-expect-error: maxAttempts is a number
createResilience({ retry: { maxAttempts: '3' } });
// @ts-expect-error: unknown jitter
createResilience({ retry: { jitter: 'some' } });
// @ts-expect-error: a service needs match
createResilience({ services: [{ name: 'plex' }] });
// @ts-expect-error: the entry starts itself; no manual init is exported
import('player-resilience').then((m) => m.initSync);
// @ts-expect-error: validateConfig is asynchronous (it loads the wasm)
const checked: void = validateConfig(config);
void checked;
