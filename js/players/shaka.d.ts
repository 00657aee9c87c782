// Shaka Player's requests through the breaker: `player-resilience/shaka`.
// Structural types, so the package does not depend on shaka-player's: a real
// `shaka.Player` and the `shaka` namespace fit them.
import type { Resilience } from './index.js';

/** What an adapter needs of the module's instance. */
export type ResilienceLike = Pick<Resilience, 'fetch' | 'enabled'>;

/** The retry parameters Shaka keeps under `streaming` and `manifest`. */
export interface ShakaRetryParameters {
  maxAttempts: number;
  baseDelay: number;
  backoffFactor: number;
  fuzzFactor: number;
  timeout: number;
  stallTimeout: number;
  connectionTimeout: number;
}

/** What `attachShaka` uses of a `shaka.Player`. */
export interface ShakaPlayerLike {
  getNetworkingEngine(): {
    registerRequestFilter(filter: (type: any, request: any, context?: any) => any): void;
    unregisterRequestFilter(filter: (type: any, request: any, context?: any) => any): void;
  } | null;
  getConfiguration(): {
    streaming: { retryParameters: ShakaRetryParameters };
    manifest: { retryParameters: ShakaRetryParameters };
  };
  configure(config: object): boolean;
}

export interface AttachShakaOptions {
  /** The Shaka namespace (`import shaka from 'shaka-player'`); default `globalThis.shaka`. */
  shaka?: object;
}

/** Undoes what the attach did. */
export interface PlayerAttachment {
  /** Removes the request filter (and, with the last player, the scheme plugin) and restores the retry parameters. */
  dispose(): void;
}

/**
 * Routes every request `player` makes (manifests, playlists, init and media
 * segments) through `r.fetch`: a request filter marks the player's requests, and an
 * http(s) scheme plugin sends them through the breaker (other players' requests go
 * through Shaka's own HTTP plugin). While attached, `streaming.retryParameters` and
 * `manifest.retryParameters` get `maxAttempts: 1` and `connectionTimeout: 0`.
 * Call it after `new shaka.Player()`, before `load()`. With a disabled `r`, nothing
 * is touched.
 */
export function attachShaka(r: ResilienceLike, player: ShakaPlayerLike, options?: AttachShakaOptions): PlayerAttachment;
