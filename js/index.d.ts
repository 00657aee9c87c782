// The entry's API (`scripts/build.sh` puts the re-export of every named type above).
import type {
  AttachVideoOptions,
  MediaItem,
  Resilience as RunningResilience,
  ResilienceConfig,
  VideoState,
} from './player_resilience.js';

/**
 * One player's resilience: a resilient fetch, events, breaker controls and
 * watched videos. It starts asynchronously (the wasm loads on first use):
 * `ready` says when. Calls made before then wait for it (`fetch`) or take effect
 * when it starts (`on`, `attachVideo`, `renderToasts`).
 */
export interface Resilience extends Omit<RunningResilience, "attachVideo" | "free"> {
  /**
   * Resolves when the module runs (or, on a server, when it is a pass-through).
   * Rejects with the `CONFIG` error for an invalid config (which `fetch` then
   * rejects with too), or a `LOAD` error when the wasm cannot load (the instance is
   * then a pass-through). Never an unhandled rejection: awaiting it is optional.
   */
  readonly ready: Promise<void>;
  /**
   * Watches a video. Once started, bad options throw a `CONFIG` error; before,
   * they reject the handle's `ready`.
   */
  attachVideo(video: HTMLVideoElement, options: AttachVideoOptions): VideoHandle;
  /** Disposes and frees the wasm memory. */
  free(): void;
}

/** A watched video element. */
export interface VideoHandle {
  /** Resolves once watched (or loaded unwatched); rejects with an option error. */
  readonly ready: Promise<void>;
  /** Switches media: every timer and request of the previous item stops first. */
  load(media: MediaItem): void;
  /** Warms the fallback for the item the page plays next: its poster and first thumbnails. */
  preload(item: { id: string; poster?: string }): void;
  readonly state: VideoState;
  readonly mediaId: string | undefined;
  /** Stops watching; the element keeps its current source. */
  dispose(): void;
}

/**
 * Creates the module for a player; never throws for the config (see `ready`).
 * With `enabled: false`, or no config, it is a pure pass-through.
 */
export function createResilience(config?: ResilienceConfig | null): Resilience;

/** Rejects with the `CONFIG` error when the config is invalid; starts nothing. */
export function validateConfig(config?: ResilienceConfig | null): Promise<void>;
