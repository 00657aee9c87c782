// The demo: one HTTP server on 127.0.0.1 that serves, from one origin, the demo
// page (`/` and `/demo/*` from www/demo/), the built package (`/pkg/*` from pkg/)
// and the fault server (its media routes under `/s/{session}/...` and its control
// API under `/__fault/`, see fault-server.mjs), and the player libraries of the
// demo's player switch (`/lib/*`, from node_modules: the devDependencies).
//
//   node www/demo-server.mjs [--port N]     (or env PORT; default 8080; 0 = any free port)
//
// `npm start` runs it (scripts/start.sh builds pkg/ first when it is missing or stale).

import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliPort, createFaultHandler, listen } from './fault-server.mjs';

const DEMO_DIR = fileURLToPath(new URL('./demo/', import.meta.url));
const PKG_DIR = fileURLToPath(new URL('../pkg/', import.meta.url));
const ROOT = fileURLToPath(new URL('../', import.meta.url));

// The player libraries under /lib/, each from its npm package.
const LIBRARIES = {
  'shaka-player.compiled.js': 'shaka-player/dist/shaka-player.compiled.js',
  'dash.all.min.js': 'dashjs/dist/modern/esm/dash.all.min.js',
  'hls.min.mjs': 'hls.js/dist/hls.min.mjs',
  'dash-video-element.js': 'dash-video-element/dist/dash-video-element.js',
  'custom-media-element.js': 'custom-media-element/dist/custom-media-element.js',
};

/**
 * The file (relative to the repository) of a player library's URL path under
 * /lib/, or null. media-tracks (a dependency of dash-video-element) is a folder of
 * modules. Pages resolve the bare imports of dash-video-element with an import
 * map: dashjs, custom-media-element, media-tracks (/lib/media-tracks/index.js).
 */
export function libraryFile(pathname) {
  if (!pathname.startsWith('/lib/')) return null;
  const name = pathname.slice('/lib/'.length);
  if (Object.hasOwn(LIBRARIES, name)) return `node_modules/${LIBRARIES[name]}`;
  const track = /^media-tracks\/([\w-]+\.js)$/.exec(name);
  return track ? `node_modules/media-tracks/dist/${track[1]}` : null;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.ts': 'text/plain; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.webm': 'video/webm',
  '.txt': 'text/plain; charset=utf-8',
};

// The file for a static URL path, or null when it is not a static path at all.
// `mounts` maps URL prefixes to directories (with a trailing separator); `/` alone
// is the page. A path that escapes its directory, or names a directory, is not served.
function staticFile(pathname, mounts) {
  if (pathname === '/') return path.join(DEMO_DIR, 'index.html');
  if (pathname.startsWith('/lib/')) {
    const file = libraryFile(pathname);
    return file ? path.join(ROOT, file) : { invalid: true };
  }
  for (const [prefix, dir] of mounts) {
    if (!pathname.startsWith(prefix)) continue;
    let rest;
    try {
      rest = decodeURIComponent(pathname.slice(prefix.length));
    } catch {
      return { invalid: true };
    }
    const file = path.resolve(dir, rest);
    if (rest.includes('\0') || !file.startsWith(dir)) return { invalid: true };
    return file;
  }
  return null;
}

async function serveStatic(req, res, file) {
  const notFound = () => {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
  };
  if (typeof file !== 'string') return notFound();
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' }).end();
    return;
  }
  let body;
  try {
    if (!(await fs.promises.stat(file)).isFile()) return notFound();
    body = await fs.promises.readFile(file);
  } catch (err) {
    if (err.code === 'ENOENT' || err.code === 'ENOTDIR' || err.code === 'EISDIR') return notFound();
    throw err;
  }
  res.writeHead(200, {
    'Content-Type': MIME[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': body.length,
    'Cache-Control': 'no-cache', // a rebuilt pkg/ is picked up on reload
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

// Resolves { url, port, close() } once listening; `url` ends with a slash.
// `pkgDir` (tests) serves another directory as /pkg/.
export async function startDemoServer({ port = 8080, host = '127.0.0.1', pkgDir = PKG_DIR } = {}) {
  const mounts = [
    ['/demo/', DEMO_DIR],
    ['/pkg/', path.resolve(pkgDir) + path.sep],
  ];
  const faults = createFaultHandler();
  const server = http.createServer((req, res) => {
    const pathname = new URL(`http://localhost${req.url.startsWith('/') ? req.url : `/${req.url}`}`).pathname;
    const file = staticFile(pathname, mounts);
    if (file === null) return faults.handle(req, res);
    serveStatic(req, res, file).catch((err) => {
      if (res.headersSent) res.destroy();
      else res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${err.message}\n`);
    });
  });
  const listening = await listen(server, port, host, faults);
  return { ...listening, url: `${listening.url}/` };
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const { url, close } = await startDemoServer({ port: cliPort(process.argv.slice(2), process.env, 8080) });
    if (!fs.existsSync(path.join(PKG_DIR, 'index.js'))) console.error('demo: pkg/ is not built; run `npm run build` (npm start does it)');
    console.log(`demo: ${url}`);
    const stop = () => close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  } catch (err) {
    console.error(`demo: ${err.message}`);
    process.exit(1);
  }
}
