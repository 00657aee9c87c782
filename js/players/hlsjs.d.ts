// hls.js's requests through the breaker: `player-resilience/hlsjs`.
// Structural types, so the package does not depend on hls.js's: a real `Hls`
// instance fits them.
import type { PlayerAdapter, Resilience } from './index.js';

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
export function attachHls(r: ResilienceLike, hls: HlsLike, options?: AttachHlsOptions): PlayerAttachment;

export interface AttachHlsOptions {
  /** Called for each request that failed: the status of an error answer, or the module's error code. */
  onFailure?: (failure: RequestFailure) => void;
}

/** A request of the library's that failed. */
export interface RequestFailure {
  /** The status of the error answer (or the last one, when the module ran out of retries). */
  status?: number;
  /** The module's error code (`BREAKER_OPEN`, `TIMEOUT`, `OFFLINE`, ...), when it failed the request. */
  code?: string;
}

/** What `hlsPlayer` uses of an `Hls` instance besides its loaders. */
export interface HlsLoadable extends HlsLike {
  readonly config: HlsLike['config'] & { startPosition: number };
  readonly media: HTMLMediaElement | null;
  loadSource(url: string): void;
  stopLoad(): void;
  attachMedia(media: HTMLMediaElement): void;
  detachMedia(): void;
  on(event: string, listener: (event: string, data: any) => void): void;
  off(event: string, listener: (event: string, data: any) => void): void;
}

/**
 * The adapter for `attachVideo(video, { player: hlsPlayer(hls) })`: the module
 * loads (`loadSource` at a start position), unloads (`stopLoad`, `detachMedia`)
 * and reloads the item through the `Hls` instance (`attachMedia(video)`d), routes
 * its requests through `r.fetch` while watched, and hears its errors.
 */
export function hlsPlayer(hls: HlsLoadable): PlayerAdapter;
