// React hooks for player-resilience.
import type { AttachVideoOptions, ResilienceConfig } from './player_resilience.js';
import type { Resilience, VideoHandle } from './index.js';

/**
 * The player's instance for `config`, or null until mounted. A new instance is
 * made only when the config's content changes (inline objects are fine); it is
 * disposed on unmount. StrictMode-safe.
 */
export function useResilience(config: ResilienceConfig | null | undefined): Resilience | null;

/**
 * Watches the `<video>` in `videoRef` and returns its handle (null until
 * attached). Attaches again only when `r` or the element changes; switches media
 * with `handle.load` when `options.media.id` changes (not on a new `src` for the
 * same id); disposes on unmount. The latest callbacks are always the ones called.
 */
export function useAttachVideo(
  r: Resilience | null,
  videoRef: { readonly current: HTMLVideoElement | null },
  options: AttachVideoOptions,
): VideoHandle | null;
