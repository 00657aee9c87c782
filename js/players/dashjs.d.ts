// dash.js's requests through the breaker: `player-resilience/dashjs`.
// Structural types, so the package does not depend on dashjs's: a real
// `MediaPlayer` fits them.
import type { PlayerAdapter, Resilience } from './index.js';

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
export function attachDashjs(r: ResilienceLike, player: DashjsPlayerLike, options?: AttachDashjsOptions): PlayerAttachment;

export interface AttachDashjsOptions {
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

/** What `dashjsPlayer` uses of a `MediaPlayer` besides its loader. */
export interface DashjsLoadable extends DashjsPlayerLike {
  /** `null` unloads (dash.js types it as `string | object`). */
  attachSource(urlOrManifest: any, startTime?: number): void;
  on(type: string, listener: (event: any) => void): void;
  off(type: string, listener: (event: any) => void): void;
}

/**
 * The adapter for `attachVideo(video, { player: dashjsPlayer(player) })`: the
 * module loads (`attachSource(url, start)`), unloads (`attachSource(null)`) and
 * reloads the item through the `MediaPlayer` (`initialize(video)`d without a
 * source), routes its requests through `r.fetch` while watched, and hears its
 * errors.
 */
export function dashjsPlayer(player: DashjsLoadable): PlayerAdapter;

/**
 * What `dashVideoPlayer` uses of a `<dash-video>` element (`dash-video-element`).
 * The `<video>` to watch is inside it: `element.nativeEl`.
 */
export interface DashVideoElementLike extends HTMLElement {
  /** Its dash.js `MediaPlayer`, made on its first `load()`. */
  api?: DashjsLoadable;
  load(): unknown;
}


/**
 * The adapter for a `<dash-video>` element: `attachVideo(element.nativeEl, {
 * player: dashVideoPlayer(element), media })`. Give the media to the module, not
 * to the element's `src`: the adapter has the element make its dash.js player
 * without a source, routes its requests through `r.fetch`, and drives it as
 * `dashjsPlayer` does.
 */
export function dashVideoPlayer(element: DashVideoElementLike, options?: DashVideoPlayerOptions): PlayerAdapter;

export interface DashVideoPlayerOptions {
  /** dash.js settings (`updateSettings`) for the player the element makes, applied before its first request. */
  settings?: object;
}
