// (b) cockatiel 4 composed as its README shows, one policy per service (api, plex):
//   wrap(retry, circuitBreaker, timeout)
//   retry(handled, { maxAttempts: 3, backoff: new ExponentialBackoff() })   README's quick start
//     (3 retries after the first try; decorrelated jitter from 128 ms, cap 30 s: the defaults)
//   circuitBreaker(handled, { halfOpenAfter: 10 * 1000, breaker: new ConsecutiveBreaker(5) })   README's quick start
//   timeout(2000, TimeoutStrategy.Aggressive)   README's timeout example
//   handled = handleAll.orWhenResult(5xx or 429)   (fetch resolves HTTP errors; README's handleWhenResult)
// The body is read inside the executed function: the timeout policy aborts its
// signal when the function returns, which would cut a body read afterwards.
import {
  circuitBreaker, ConsecutiveBreaker, ExponentialBackoff, handleAll, retry, timeout, TimeoutStrategy, wrap,
  BrokenCircuitError,
} from 'cockatiel';
import { consume, install, isFailureStatus, serviceOf } from '../driver.js';

const handled = handleAll.orWhenResult((r) => isFailureStatus(r?.status));
function policy() {
  const breaker = circuitBreaker(handled, { halfOpenAfter: 10 * 1000, breaker: new ConsecutiveBreaker(5) });
  const composed = wrap(
    retry(handled, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
    breaker,
    timeout(2000, TimeoutStrategy.Aggressive),
  );
  return { composed, breaker };
}
const policies = { api: policy(), plex: policy() };

install({
  name: 'cockatiel',
  call: (kind, url, init) =>
    policies[serviceOf(url)].composed.execute(async ({ signal }) => consume(await fetch(url, { ...init, signal }))),
  fastFail: (e) => e instanceof BrokenCircuitError,
  describe: (e) => e?.constructor?.name ?? String(e),
  events(hook) {
    for (const [service, { breaker }] of Object.entries(policies)) {
      breaker.onStateChange((state) => hook('state', { service, to: ['closed', 'open', 'halfOpen', 'isolated'][state] ?? state }));
    }
  },
});
