// The whole app, the same for every bundler: the package imported by name, no
// config for it anywhere. bundlers.test.mjs copies it to each app's src/main.js;
// the plain page maps the name with an import map. `?server=` is the fault
// server's session base URL.
import { createResilience } from 'player-resilience';

const server = new URLSearchParams(location.search).get('server') ?? '';
const output = document.getElementById('output');

async function run() {
  const r = createResilience({ enabled: true, persistence: { enabled: false } });
  window.resilience = r;
  await r.ready;
  const response = await r.fetch(`${server}/api/v1/play/101`);
  const metadata = await response.json();
  return { enabled: r.enabled, status: response.status, title: metadata.title };
}

run().then(
  (result) => {
    window.result = result;
    output.textContent = JSON.stringify(result);
  },
  (error) => {
    window.result = { error: `${error && error.code ? `${error.code}: ` : ''}${error && error.message}` };
    output.textContent = JSON.stringify(window.result);
  },
);
