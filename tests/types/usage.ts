// Compile-only checks of the package's types (`tsc -p tests/types`): what a player
// writes must type-check, and the mistakes marked @ts-expect-error must not.
import {
  createResilience,
  validateConfig,
  type ResilienceConfig,
  type ResilienceError,
  type NoticeEvent,
  type Snapshot,
} from 'player-resilience';

const config: ResilienceConfig = {
  enabled: true,
  timeouts: { videoMs: 30_000 },
  retry: { maxAttempts: 3, jitter: 'full' },
  notices: { messages: { restored: 'Video is back!' } },
  services: [{ name: 'plex', match: ['/api/v1/proxy/plex/'], probeUrl: '/api/v1/proxy/plex/identity' }],
};
validateConfig(config);
const r = createResilience(config);

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
r.dispose();
void load();
void known;

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
// @ts-expect-error: the entry initialises itself; no manual init is exported
import('player-resilience').then((m) => m.initSync);
