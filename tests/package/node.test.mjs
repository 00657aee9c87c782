// The built package outside a browser (a server render, a test runner): every
// entry imports without throwing, and the API is a pass-through. And the package
// as npm would publish it: every export and its types are in the tarball.
// Run by `npm test` after `npm run build`: node --test tests/package/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';

const pkg = new URL('../../pkg/', import.meta.url).pathname;
const manifest = JSON.parse(readFileSync(`${pkg}package.json`, 'utf8'));

test('every entry imports in Node without throwing', async () => {
  for (const entry of ['index.js', 'react.js', 'shaka.js', 'dashjs.js', 'hlsjs.js', 'player_resilience.js']) {
    await assert.doesNotReject(import(`${pkg}${entry}`), entry);
  }
});

test('on a server, createResilience is a pass-through and validateConfig says it needs a browser', async () => {
  const { createResilience, validateConfig } = await import(`${pkg}index.js`);
  const server = createServer((req, res) => res.writeHead(503).end()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  try {
    const r = createResilience({ enabled: true });
    await r.ready;
    assert.equal(r.enabled, false);
    const off = r.on('notice', () => {});
    off();
    assert.equal(r.metrics(), null);
    assert.deepEqual(r.snapshot().services, []);
    const response = await r.fetch(`http://127.0.0.1:${server.address().port}/api/v1/play/1`);
    assert.equal(response.status, 503, "the runtime's own fetch, no retries");
    assert.throws(() => r.attachVideo({}, {}), /must be a <video> element/);
    r.dispose();
    await assert.rejects(validateConfig({ enabled: true }), (e) => e.code === 'LOAD' && /needs a browser/.test(e.message));
  } finally {
    server.close();
  }
});

test('the tarball holds every export, its types, the README and the LICENSE', () => {
  const [packed] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { cwd: pkg, encoding: 'utf8' }));
  const files = new Set(packed.files.map((f) => f.path));
  const targets = Object.values(manifest.exports).flatMap((t) => (typeof t === 'string' ? [t] : Object.values(t)));
  for (const target of targets) {
    const file = target.replace('./', '');
    assert.ok(files.has(file), `${file} is exported but not packed`);
    assert.ok(existsSync(`${pkg}${file}`), `${file} is missing`);
  }
  for (const entry of ['.', './react', './manual', './shaka', './dashjs', './hlsjs']) {
    assert.ok(manifest.exports[entry].types, `${entry} has types`);
  }
  for (const file of ['README.md', 'LICENSE', 'player_resilience_bg.wasm']) assert.ok(files.has(file), file);
  assert.equal(manifest.sideEffects, false);
  assert.equal(manifest.peerDependenciesMeta.react.optional, true);
  assert.ok(manifest.keywords.length > 0 && manifest.license === 'MIT' && manifest.browserslist.length > 0);
});
