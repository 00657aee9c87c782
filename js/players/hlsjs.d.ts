// hls.js's requests through the breaker: `player-resilience/hlsjs`.
// Structural types, so the package does not depend on hls.js's: a real `Hls`
// instance fits them.
import type { Resilience } from './index.js';

/** What an adapter needs of the module's instance. */
export type ResilienceLike = Pick<Resilience, 'fetch' | 'enabled'>;

/** What `attachHls` uses of an `Hls` instance: its (mutable) config. */
export interface HlsLike {
  readonly config: {
    loader: new (config: any) => any;
    pLoader?: (new (config: any) => any) | undefined;
    fLoader?: (new (config: any) => any) | undefined;
  };
}

/** Undoes what the attach did. */
export interface PlayerAttachment {
  /** Puts back the original loaders and load policies. */
  dispose(): void;
}

/**
 * Routes every request an `Hls` instance makes (manifest, playlists, fragments,
 * keys) through `r.fetch` with loader classes built on it (`loader`, `pLoader`,
 * `fLoader` in `hls.config`), and sets the retries of every `*LoadPolicy` to 0
 * while attached. Call it after `new Hls(config)`, before `loadSource()`. With a
 * disabled `r`, nothing is touched. A module error reaches hls.js as a load error
 * whose `networkDetails` is the error (its `code`: `BREAKER_OPEN`…).
 */
export function attachHls(r: ResilienceLike, hls: HlsLike): PlayerAttachment;
