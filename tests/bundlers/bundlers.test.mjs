// The package with ZERO bundler config: Vite 6 and Vite 7 (build + preview, and
// the dev server with its dependency optimiser), webpack 5 (production build,
// entry and output only, served by a static server that sends application/wasm),
// and a plain `<script type="module">` page importing pkg/index.js (no bundler).
// Each app (vite6/, vite7/, webpack5/) is a tiny plain-JS page that imports
// `player-resilience` by name, creates an enabled instance, awaits `ready`, fetches
// the fault server's metadata through `r.fetch` and writes the outcome to
// `window.result`. The packed tarball of pkg/ is installed into each app (not in
// its package.json or lockfile).
//
// Run after `npm run build`: node --test tests/bundlers/
// BUNDLERS_PKG_DIR=/path/to/pkg uses another build of the package (default: ../../pkg).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { extname, join, normalize, relative, resolve, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startFaultServer } from '../../www/fault-server.mjs';
import { installApp, launchChromium, packPackage, startVite, stopAll } from '../support.mjs';

const here = new URL('.', import.meta.url).pathname;
const pkgDir = resolve(process.env.BUNDLERS_PKG_DIR ?? join(here, '../../pkg'));
const wasmName = 'player_resilience_bg.wasm';
const EXPECTED = { enabled: true, status: 200, title: 'Fault server video 101' };
// The wasm's first bytes (\0asm) in base64, as a data: URL or inlined string would hold them.
const INLINED_WASM = ['AGFzbQ', 'data:application/wasm'];

let faults, browser, packed, wasmBytes;

before(async () => {
  wasmBytes = readFileSync(join(pkgDir, wasmName));
  packed = packPackage(pkgDir);
  faults = await startFaultServer({ port: 0 });
  browser = await launchChromium();
});

after(async () => {
  await stopAll();
  await browser?.close();
  await faults?.close();
  packed?.remove();
});

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.wasm': 'application/wasm' };

/**
 * A static file server: `mounts` maps URL prefixes to folders (first match wins);
 * `/` is index.html. Sends application/wasm for .wasm. Resolves { url, stop }.
 */
function startStatic(mounts) {
  const server = createHttpServer((req, res) => {
    let path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    if (path.endsWith('/')) path += 'index.html';
    for (const [prefix, dir] of mounts) {
      if (!path.startsWith(prefix)) continue;
      const file = normalize(join(dir, path.slice(prefix.length)));
      if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) continue;
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : readFileSync(file));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject).listen(0, '127.0.0.1', () => {
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        stop: () => new Promise((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
      });
    });
  });
}

/**
 * Opens the app at `url` in a fresh context and waits for `window.result`.
 * Fails on page errors, console errors, failed requests and responses >= 400;
 * checks the wasm came as a file of its own (application/wasm, the package's bytes).
 * Returns what the page loaded, for the report.
 */
async function runApp(url, session) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = [];
  const wasm = [];
  const scripts = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && problems.push(`console.error: ${m.text()}`));
  page.on('requestfailed', (r) => problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  page.on('response', (r) => {
    if (r.status() >= 400) problems.push(`${r.status()} ${r.url()}`);
    const path = new URL(r.url()).pathname;
    if (path.endsWith('.wasm')) wasm.push(r);
    else if (r.request().resourceType() === 'script') scripts.push(path);
  });
  try {
    const server = `${faults.url}/s/${session}`;
    await page.goto(`${url}/?server=${encodeURIComponent(server)}`, { timeout: 30_000 });
    const handle = await page.waitForFunction(() => window.result, null, { timeout: 30_000, polling: 100 });
    const result = await handle.jsonValue();
    assert.deepEqual(result, EXPECTED);
    const metadataRequests = await page.evaluate(() => window.resilience.metrics().services
      .find((s) => s.name === 'api').classes.find((c) => c.class === 'metadata').requests);
    assert.ok(metadataRequests >= 1, 'the metadata request went through the module');
    assert.deepEqual(problems, [], 'no page errors, failed requests or >= 400 responses');

    assert.equal(wasm.length, 1, `the wasm was fetched once, as a file: ${wasm.map((r) => r.url())}`);
    const [response] = wasm;
    assert.equal(response.status(), 200);
    assert.equal(response.headers()['content-type']?.split(';')[0], 'application/wasm');
    const body = await response.body();
    assert.ok(body.equals(wasmBytes), `the served wasm is the package's (${body.length} B, expected ${wasmBytes.length} B)`);
    return { wasmPath: new URL(response.url()).pathname, scripts };
  } finally {
    await context.close();
  }
}

/** The build's files (relative path → raw and gzip -9 bytes); checks the wasm is emitted as is, not inlined. */
function checkDist(dist) {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const file = join(dir, entry.name);
      if (entry.isDirectory()) walk(file);
      else files.push(file);
    }
  };
  walk(dist);
  const wasms = files.filter((f) => f.endsWith('.wasm'));
  assert.equal(wasms.length, 1, `one .wasm emitted: ${wasms}`);
  assert.ok(readFileSync(wasms[0]).equals(wasmBytes), 'the emitted wasm is the package\'s, byte for byte');
  const scripts = files.filter((f) => f.endsWith('.js'));
  assert.ok(scripts.length >= 1, 'a script emitted');
  for (const file of scripts) {
    const text = readFileSync(file, 'utf8');
    for (const marker of INLINED_WASM) assert.ok(!text.includes(marker), `${relative(dist, file)} inlines the wasm (${marker})`);
  }
  return files.map((file) => {
    const bytes = readFileSync(file);
    return { file: relative(dist, file), raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
}

function report(t, sizes) {
  for (const { file, raw, gzip } of sizes) t.diagnostic(`${file}: ${raw} B raw, ${gzip} B gzip -9`);
}

for (const version of [6, 7]) {
  describe(`Vite ${version}`, { timeout: 600_000 }, () => {
    const app = join(here, `vite${version}`);
    before(() => installApp(app, packed.tarball, join(here, 'app.js')));

    test(`Vite ${version}: vite build + vite preview`, { timeout: 180_000 }, async (t) => {
      rmSync(join(app, 'dist'), { recursive: true, force: true });
      execFileSync(process.execPath, [join(app, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], {
        cwd: app, stdio: ['ignore', 'inherit', 'inherit'], timeout: 120_000,
      });
      report(t, checkDist(join(app, 'dist')));
      const server = await startVite(app, ['preview']);
      try {
        const loaded = await runApp(server.url, `vite${version}-build`);
        t.diagnostic(`wasm fetched from ${loaded.wasmPath}`);
      } finally {
        await server.stop();
      }
    });

    test(`Vite ${version}: vite dev server (--force: dependency optimiser)`, { timeout: 180_000 }, async (t) => {
      const server = await startVite(app, ['--force']);
      try {
        const loaded = await runApp(server.url, `vite${version}-dev`);
        const entry = loaded.scripts.find((path) => path.includes('player-resilience'));
        t.diagnostic(`package served as ${entry}; wasm fetched from ${loaded.wasmPath}`);
        assert.match(entry ?? '', /\/node_modules\/\.vite\/deps\/player-resilience\.js$/, 'the optimiser pre-bundled the package');
      } finally {
        await server.stop();
      }
    });
  });
}

describe('webpack 5', { timeout: 600_000 }, () => {
  const app = join(here, 'webpack5');
  before(() => installApp(app, packed.tarball, join(here, 'app.js')));

  test('webpack 5: production build (entry + output only), static server', { timeout: 180_000 }, async (t) => {
    rmSync(join(app, 'dist'), { recursive: true, force: true });
    const log = execFileSync(process.execPath, [join(app, 'node_modules/webpack-cli/bin/cli.js'), '--mode', 'production'], {
      cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000,
    });
    process.stderr.write(log);
    assert.doesNotMatch(log, /WARNING|ERROR/, 'webpack built without warnings');
    report(t, checkDist(join(app, 'dist')));
    const server = await startStatic([['/', join(app, 'dist')], ['/', join(app, 'public')]]);
    try {
      const loaded = await runApp(server.url, 'webpack5');
      t.diagnostic(`wasm fetched from ${loaded.wasmPath}`);
    } finally {
      await server.stop();
    }
  });
});

describe('no bundler', () => {
  test('plain <script type="module"> importing pkg/index.js', { timeout: 120_000 }, async (t) => {
    const server = await startStatic([['/pkg/', pkgDir], ['/app/', resolve(here)], ['/', join(here, 'plain')]]);
    try {
      const loaded = await runApp(server.url, 'plain');
      t.diagnostic(`wasm fetched from ${loaded.wasmPath}`);
    } finally {
      await server.stop();
    }
  });
});
