// Shaka Player's requests through the breaker: `player-resilience/shaka`.
// Structural types, so the package does not depend on shaka-player's: a real
// `shaka.Player` and the `shaka` namespace fit them.
import type { PlayerAdapter, Resilience } from './index.js';

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

/** Undoes what the attach did. */
export interface PlayerAttachment {
  /** Removes the request filter (and, with the last player, the scheme plugin) and restores the retry parameters. */
  dispose(): void;
  /**
   * Ends every request of this player still in flight. An unload should not wait for
   * them: Shaka does not always abort its manifest request, and Chromium holds a later
   * GET of the same URL behind one that is pending.
   */
  abort(): void;
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

/** What `shakaPlayer` uses of a `shaka.Player` besides its networking. */
export interface ShakaLoadable extends ShakaPlayerLike {
  load(uri: string, startTime?: number | null): Promise<void>;
  unload(): Promise<void>;
  addEventListener(type: 'error', listener: (event: any) => void): void;
  removeEventListener(type: 'error', listener: (event: any) => void): void;
}

/**
 * The adapter for `attachVideo(video, { player: shakaPlayer(player) })`: the
 * module loads, unloads and reloads the item through the `shaka.Player` (attached
 * to the watched video), routes its requests through `r.fetch` while watched, and
 * hears its errors. The page calls neither `player.load` nor `attachShaka`.
 */
export function shakaPlayer(player: ShakaLoadable, options?: { shaka?: object }): PlayerAdapter;
