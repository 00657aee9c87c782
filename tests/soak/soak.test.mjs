// A short soak (bench/soak.mjs: `npm run soak` runs 100 000 requests): 12 000
// requests in eight batches, two cycles of healthy, outage, recovery, healthy;
// nothing of the module's may have grown from the end of the first cycle to the
// end of the second: wasm memory, JS heap (after garbage collection), event
// listeners, live timers, object URLs. (The first outage itself adds some: the
// fallback's and the resume's first use, once.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { soak } from '../../bench/soak.mjs';

test('12 000 requests with two outages: memory, listeners, timers and object URLs stay flat', { timeout: 180_000 }, async () => {
  const { samples, errors } = await soak({ requests: 12_000, batch: 1_500 });
  assert.deepEqual(errors, []);
  const [outage, first, last] = [samples[6], samples[4], samples[8]];
  assert.ok(outage.outage && (outage.counts.BREAKER_OPEN ?? 0) > 0, 'the outage opened a breaker');
  assert.equal(last.video, 'healthy');
  assert.ok(last.wasmBytes <= first.wasmBytes + 65_536, `wasm memory ${first.wasmBytes} → ${last.wasmBytes} B`);
  assert.ok(last.jsHeapBytes <= first.jsHeapBytes + 512 * 1024, `JS heap ${first.jsHeapBytes} → ${last.jsHeapBytes} B`);
  assert.ok(last.listeners <= first.listeners, `listeners ${first.listeners} → ${last.listeners}`);
  assert.ok(last.timers <= first.timers, `live timers ${first.timers} → ${last.timers}`);
  assert.equal(last.objectUrls, 0, 'object URLs left unrevoked');
  assert.ok(Math.max(...samples.map((s) => s.objectUrls)) <= 1, 'at most the frame shown');
});
