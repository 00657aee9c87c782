// dash.js's requests through the breaker: `player-resilience/dashjs`.
// Structural types, so the package does not depend on dashjs's: a real
// `MediaPlayer` fits them.
import type { Resilience } from './index.js';

/** What an adapter needs of the module's instance. */
export type ResilienceLike = Pick<Resilience, 'fetch' | 'enabled'>;

/** What `attachDashjs` uses of a dash.js `MediaPlayer`. */
export interface DashjsPlayerLike {
  extend(parentNameString: string, childInstance: object, override: boolean): void;
  getSettings(): { streaming?: { retryAttempts?: { [type: string]: number | undefined } } };
  updateSettings(settings: object): void;
}

/** Undoes what the attach did. */
export interface PlayerAttachment {
  /** Hands the transport back to dash.js's XHRLoader and restores the retry attempts. */
  dispose(): void;
}

/**
 * Routes every request a dash.js `MediaPlayer` makes (manifest, init, index and
 * media segments) through `r.fetch`, by extending the player's XHRLoader, and sets
 * `streaming.retryAttempts` to 0 (but for DRM licences) while attached. Call it
 * after `MediaPlayer().create()`, before `initialize()`. With a disabled `r`,
 * nothing is touched. A failed request's `CommonMediaResponse` (in the error
 * event's `response`) carries the module's error as `resilienceError`.
 */
export function attachDashjs(r: ResilienceLike, player: DashjsPlayerLike): PlayerAttachment;
