// (a) player-resilience with its default config: `createResilience({ enabled: true })`.
// Its routing, timeouts, retries, breakers and probes are all the defaults (the
// probe is the default relative `/api/v1/proxy/plex/identity`, which the bench's
// origin for this page maps to this contender's fault session).
import { createResilience } from '/pkg/index.js';
import { consume, install } from '../driver.js';

// run.mjs sets window.__packageConfig: { enabled: true } unless PACKAGE_CONFIG overrides it.
const r = createResilience(globalThis.__packageConfig ?? { enabled: true });

install({
  name: 'player-resilience',
  ready: r.ready,
  call: async (kind, url, init) => consume(await r.fetch(url, init)),
  fastFail: (e) => e?.code === 'BREAKER_OPEN',
  describe: (e) => e?.code ?? e?.name ?? String(e),
  events(hook) {
    r.on('notice', (n) => hook('notice', { kind: n.kind, text: n.text, service: n.service }));
    r.on('state', (s) => hook('state', { service: s.service, from: s.from, to: s.to }));
    r.on('probe', (p) => hook('probe', { service: p.service, healthy: p.healthy }));
  },
});
