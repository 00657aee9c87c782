// An entry and an output, nothing else: no rules, no plugins, no experiments,
// nothing for .wasm or for player-resilience. (`--mode production` is on the
// command line, see package.json.) These two are webpack's defaults anyway.
import { fileURLToPath } from 'node:url';

export default {
  entry: './src/main.js',
  output: { path: fileURLToPath(new URL('./dist/', import.meta.url)) },
};
