// (c) opossum 10 with its defaults, one breaker per service (api, plex), from its
// browser build (dist/opossum.min.js in a classic <script>, as its README says:
// a global `circuitBreaker`, the CircuitBreaker class). Defaults: timeout 10 s (no
// abort: no AbortController given), 50 % errors over a 10 s rolling window (10
// buckets), no volume threshold, resetTimeout 30 s. The action throws on 5xx / 429
// ("fetch doesn't fail on HTTP errors… check the response status and throw errors
// accordingly", its README) and reads the body (its README's advice for fetch).
// Its README suggests no retry, so there is none.
import { consume, install, isFailureStatus, serviceOf } from '../driver.js';

const CircuitBreaker = globalThis.circuitBreaker;
async function action(url, init) {
  const response = await fetch(url, init);
  if (isFailureStatus(response.status)) {
    await response.body?.cancel();
    throw Object.assign(new Error(`HTTP ${response.status}`), { status: response.status });
  }
  return consume(response);
}
const breakers = { api: new CircuitBreaker(action), plex: new CircuitBreaker(action) };

install({
  name: 'opossum',
  call: (kind, url, init) => breakers[serviceOf(url)].fire(url, init),
  fastFail: (e) => e?.code === 'EOPENBREAKER',
  describe: (e) => e?.code ?? (e?.status ? `HTTP ${e.status}` : e?.name ?? String(e)),
  events(hook) {
    for (const [service, b] of Object.entries(breakers)) {
      for (const to of ['open', 'halfOpen', 'close']) b.on(to, () => hook('state', { service, to }));
    }
  },
});
