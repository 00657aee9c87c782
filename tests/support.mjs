// What the tests that drive the packed package in a browser share: Debian's
// Chromium, the tarball `npm pack` makes of pkg/, an app installed from its
// lockfile plus that tarball, free ports and Vite servers (stopped with their
// whole process group).
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium } from 'playwright-core';

const root = new URL('../', import.meta.url).pathname;
const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

/**
 * Serves a page and files of the repository from 127.0.0.1 (another origin than
 * the fault server): `/` is `page` (HTML), any other path goes through `file(path)`
 * to a path under the repository, or null for 404; `headers` go on every response.
 * Resolves the `http.Server`.
 */
export function startSite(page, file, headers = {}) {
  const server = createHttpServer(async (req, res) => {
    for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
    const path = normalize(new URL(req.url, 'http://x').pathname);
    if (path === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end(page);
    const target = file(path);
    if (!target) return res.writeHead(404).end();
    try {
      const body = await readFile(join(root, target));
      res.writeHead(200, { 'content-type': TYPES[extname(target)] ?? 'application/octet-stream' }).end(body);
    } catch {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Every child process started here (each the leader of its own process group). */
const children = new Set();

/** Debian's Chromium, headless, with the flags this machine needs (no autoplay flag). */
export function launchChromium() {
  const executablePath = execFileSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' }).trim();
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** Packs `pkgDir` into a temporary folder: { tarball, remove() }. */
export function packPackage(pkgDir) {
  const dir = mkdtempSync(join(tmpdir(), 'pr-pack-'));
  const name = npm(['pack', '--silent', '--pack-destination', dir], pkgDir).trim().split('\n').pop();
  return { tarball: join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs npm; its output goes to stderr (the test report stays on stdout). */
function npm(args, cwd) {
  return execFileSync('npm', [...args, '--no-audit', '--no-fund'], {
    cwd, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'inherit'],
  });
}

/**
 * The app's own dependencies (`npm ci` when node_modules is missing or older than
 * the lockfile), then the tarball, and `main`, if given, as its src/main.js.
 */
export function installApp(app, tarball, main) {
  if (main) {
    mkdirSync(join(app, 'src'), { recursive: true });
    copyFileSync(main, join(app, 'src/main.js'));
  }
  const stamp = join(app, 'node_modules/.package-lock.json');
  if (!existsSync(stamp) || statSync(join(app, 'package-lock.json')).mtimeMs > statSync(stamp).mtimeMs) {
    process.stderr.write(npm(['ci'], app));
  }
  process.stderr.write(npm(['install', '--no-save', tarball], app));
}

/** A free port on 127.0.0.1 (Vite wants a number, not 0). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer().once('error', reject).listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Stops a child and everything it started (its process group): SIGTERM, then SIGKILL after 5 s. */
export function stop(child) {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      children.delete(child);
      return done();
    }
    const kill = (signal) => {
      try {
        process.kill(-child.pid, signal);
      } catch {
        // Already gone.
      }
    };
    const timer = setTimeout(() => kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      children.delete(child);
      done();
    });
    kill('SIGTERM');
  });
}

/** Runs `vite <args>` in `app` on a free port; resolves { url, output, stop } once it listens. */
export async function startVite(app, args) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(app, 'node_modules/vite/bin/vite.js'), ...args,
    '--port', String(port), '--strictPort', '--host', '127.0.0.1'], {
    // Plain text: Vite colours its output under CI=true (the port in bold), even into a pipe.
    cwd: app, stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, NO_COLOR: '1' },
  });
  children.add(child);
  let output = '';
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`vite ${args.join(' ')} did not start in 30 s:\n${output}`)), 30_000);
      const read = (chunk) => {
        output += String(chunk).replace(/\x1b\[[0-9;]*m/g, '');
        if (output.includes(`127.0.0.1:${port}`)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', read);
      child.stderr.on('data', read);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`vite ${args.join(' ')} exited with ${code}:\n${output}`));
      });
    });
  } catch (error) {
    await stop(child);
    throw error;
  }
  return { url: `http://127.0.0.1:${port}`, output: () => output, stop: () => stop(child) };
}

/** Stops every child still running (for `after`). */
export function stopAll() {
  return Promise.all([...children].map(stop));
}
