// (d) ky 2 with its defaults: timeout 10 s per attempt; retry limit 2 for GET on
// 408 413 429 500 502 503 504 (and network errors), delay 0.3 s × 2^(n-1), no
// jitter, Retry-After honoured for 413 429 503; timeouts not retried. Non-2xx
// throw HTTPError.
import ky from 'ky';
import { consume, install } from '../driver.js';

install({
  name: 'ky',
  call: async (kind, url, init) => consume(await ky(url, init)),
  fastFail: () => false,
  describe: (e) => (e?.response ? `HTTP ${e.response.status}` : e?.name ?? String(e)),
});
