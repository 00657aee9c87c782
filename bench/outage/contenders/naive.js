// (e) The behaviour of the user's documents (the proxy before the guardrails):
// 429 and 5xx retried 20 times at a flat 500 ms, a 60 s timeout per attempt,
// timeouts and network errors not retried, no breaker. (In the incident this ran
// in the backend proxy; here it runs in the page, under the same browser limits
// as the others.)
import { consume, install, isFailureStatus } from '../driver.js';

const RETRIES = 20;
const DELAY_MS = 500;
const TIMEOUT_MS = 60_000;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function naive(url, init) {
  for (let attempt = 0; ; attempt++) {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try {
      const response = await fetch(url, { ...init, signal: ctrl.signal });
      if (isFailureStatus(response.status) && attempt < RETRIES) {
        await response.body?.cancel();
      } else {
        return await consume(response);
      }
    } finally {
      clearTimeout(timer);
    }
    await sleep(DELAY_MS);
  }
}

install({
  name: 'naive',
  call: (kind, url, init) => naive(url, init),
  fastFail: () => false,
  describe: (e) => e?.name ?? String(e),
});
