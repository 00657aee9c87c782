//! The package's TypeScript types, written by hand so nothing is `any`.

use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** How a URL is classified; picks its timeout. */
export type RequestClass = "video" | "transcode" | "thumbnail" | "metadata" | "probe";
/** A circuit breaker's state. */
export type BreakerState = "closed" | "open" | "halfOpen" | "isolated";
/** Keys of the notice catalogue, in the order a problem unfolds. */
export type NoticeKey = "slow" | "retrying" | "unavailable" | "fallback" | "restored" | "offline" | "online" | "tapToResume" | "unreadable";

/** A breaker's policy. */
export interface BreakerConfig {
  failureThreshold?: number;
  errorRateThreshold?: number;
  minimumRequests?: number;
  windowBuckets?: number;
  bucketMs?: number;
  /** How long a probed service waits after a failed trial (× openBackoffFactor per reopen, ≤ maxOpenMs). */
  openMs?: number;
  openBackoffFactor?: number;
  maxOpenMs?: number;
  halfOpenMaxTrials?: number;
  successThreshold?: number;
  slowCallsAreFailures?: boolean;
}

/** One service: the URLs routed to its breaker, and how to probe it. */
export interface ServiceConfig {
  /** 1 to 32 of a-z, 0-9, - or _. */
  name: string;
  /** Substrings of the URL that route a request to this service. */
  match: string[];
  /** A deep health endpoint; without one, its half-open trials are its probes, on the probe schedule. */
  probeUrl?: string | null;
  breaker?: BreakerConfig;
}

/** The player's `resilience` config: the `enabled` flag plus overrides. Every field is optional. */
export interface ResilienceConfig {
  /** Off by default: a disabled module is a pure pass-through. */
  enabled?: boolean;
  timeouts?: { metadataMs?: number; thumbnailMs?: number; videoMs?: number; transcodeMs?: number; slowMs?: number };
  retry?: {
    maxAttempts?: number;
    initialDelayMs?: number;
    maxDelayMs?: number;
    factor?: number;
    jitter?: "full" | "decorrelated" | "equal" | "none";
    methods?: string[];
    statuses?: number[];
    retryTimeouts?: boolean;
    retryNetworkErrors?: boolean;
    deadlineMs?: number;
    maxRetryAfterMs?: number;
  };
  budget?: { ratio?: number; minPerSecond?: number; windowMs?: number };
  probe?: {
    /** The first probe's delay after the breaker opens, and the least spacing of probes (15 s). */
    initialDelayMs?: number;
    /** Cap on the spacing, before jitter (60 s). */
    maxDelayMs?: number;
    /** How long probes keep `initialDelayMs` before backing off (5 minutes). */
    holdMs?: number;
    factor?: number;
    timeoutMs?: number;
    successThreshold?: number;
    jitter?: boolean;
  };
  notices?: { durationMs?: number; minIntervalMs?: number; messages?: Partial<Record<NoticeKey, string>> };
  playback?: { stallMs?: number; resume?: "session" | "stopped"; thumbnailStepMs?: number; sourceRetries?: number };
  persistence?: { enabled?: boolean; key?: string; maxAgeMs?: number };
  /** Replaces the default services (plex, api). */
  services?: ServiceConfig[];
  /** Replaces the default class rules; unmatched URLs are "metadata". */
  classes?: { class: RequestClass; match: string[] }[];
  /** Query parameters and headers that are secrets (default ["X-Plex-Token"]). */
  secrets?: string[];
  /** Reports of breaker and fallback changes to the backend. Absent (the default): nothing is ever sent. */
  report?: ReportConfig;
}

/** Where reports go, and how often. */
export interface ReportConfig {
  /** The backend's endpoint, POSTed with navigator.sendBeacon. Required; no secret (`secrets`) in its query. */
  url: string;
  /** The rate limit: this many at once, then one every 60 / maxPerMinute s. 1 to 60, default 6. */
  maxPerMinute?: number;
  /** This page's id in reports: 1 to 64 of A-Z, a-z, 0-9, - or _. Default: 16 random hex digits. */
  pageId?: string;
}

/**
 * What `report.url` receives: JSON text, sent as `text/plain;charset=UTF-8`. It
 * holds no URL and no secret. Only one tab per origin (the prober) sends them.
 */
export interface ReportBody {
  type: "player-resilience.report";
  version: 1;
  event: "breaker" | "fallback";
  service: string;
  /** `open` / `closed` for a breaker, `enter` / `exit` for the fallback. */
  state: "open" | "closed" | "enter" | "exit";
  /** When, Unix ms. */
  at: number;
  /** When the previous state began (Unix ms), as the page saw it; null if it did not. */
  since: number | null;
  /** The service's counters since the page started. */
  counts: { requests: number; successes: number; failures: number; timeouts: number; retries: number; rejected: number };
  /** The id of the page that saw it (`report.pageId`). */
  page: string;
  /** The media, for a fallback report. */
  mediaId?: string;
  /** Reports merged into this one by the rate limit (the latest per service and event wins). */
  suppressed: number;
}

/** Stable error codes. `LOAD`: the wasm could not load here (the instance is a pass-through). */
export type ErrorCode = "BREAKER_OPEN" | "TIMEOUT" | "RETRIES_EXHAUSTED" | "OFFLINE" | "ABORTED" | "CONFIG" | "LOAD";

/** Every error the module throws or rejects with. URLs in it are redacted. */
export interface ResilienceError extends Error {
  name: "ResilienceError" | "AbortError";
  code: ErrorCode;
  /** The service's name (request errors). */
  service?: string;
  /** The request URL with secrets redacted (request errors). */
  url?: string;
  /** BREAKER_OPEN: when trying again is worth it; null while isolated. */
  retryAfterMs?: number | null;
  /** TIMEOUT, RETRIES_EXHAUSTED: attempts made. */
  attempts?: number;
  /** RETRIES_EXHAUSTED: the last status, null after network errors. */
  status?: number | null;
  /** CONFIG: the offending field's path, e.g. "retry.maxAttempts". */
  field?: string;
  /** CONFIG: the rule it broke, e.g. "be between 1 and 10". */
  rule?: string;
}

/** A notice for the person exercising. */
export interface NoticeEvent {
  type: "notice";
  kind: NoticeKey;
  key: NoticeKey;
  severity: "info" | "warning" | "error";
  text: string;
  durationMs: number;
  service: string | null;
  /** It follows this service's previous notice within a second (the same moment): show it in that one's place. */
  replaces: boolean;
}
/** A breaker changed state. `at` is in performance.now() milliseconds. */
export interface StateEvent { type: "state"; service: string; from: BreakerState; to: BreakerState; at: number }
/** A request will be retried after `delayMs`. */
export interface RetryEvent { type: "retry"; service: string; url: string; attempt: number; delayMs: number; status: number | null }
/** A health probe ended. */
export interface ProbeEvent { type: "probe"; service: string; healthy: boolean }

/** One request class's counters and latency histogram. */
export interface ClassMetrics {
  class: RequestClass;
  requests: number;
  retries: number;
  rejected: number;
  successes: number;
  failures: number;
  notCounted: number;
  timeouts: number;
  /** `counts[i]` is the number of calls at or under `bucketsMs[i]`; the last count is the overflow. */
  latency: { bucketsMs: number[]; counts: number[] };
}
/** Counters, error rates, latencies and time in state. */
export interface MetricsSnapshot {
  services: {
    name: string;
    state: BreakerState;
    errorRate: number;
    timeInStateMs: { closed: number; open: number; halfOpen: number; isolated: number };
    classes: ClassMetrics[];
  }[];
}
/** Metrics, sent at most once a second while something changes. */
export interface MetricsEvent extends MetricsSnapshot { type: "metrics" }

/** Where a fallback frame came from. */
export type FrameSource = "cache" | "nearest" | "poster" | "placeholder";
/**
 * The video's fallback: `enter`, then a `frame` each time the shown image changes
 * (the object URL stays valid until the next frame or `exit`), then `exit`. And
 * `blocked` when the browser refused the module's `play()` (a "Tap to resume"
 * button shows over the fallback), `unblocked` when a gesture played it.
 */
export interface FallbackEvent {
  type: "enter" | "frame" | "exit" | "blocked" | "unblocked";
  mediaId: string | null;
  /** The session clock when the event was made. */
  sessionSeconds: number;
  /** Only on `frame`. `offsetMs` is the thumbnail's time in the media. */
  frame: { url: string; source: FrameSource; offsetMs: number } | null;
}

/** Event payloads by name, for `on(name, listener)`. */
export interface ResilienceEvents {
  notice: NoticeEvent;
  state: StateEvent;
  retry: RetryEvent;
  probe: ProbeEvent;
  metrics: MetricsEvent;
  fallback: FallbackEvent;
}

/** One item of the player's queue. */
export interface MediaItem {
  /** Passed to `thumbnailAt`. */
  id: string;
  /**
   * The video URL (through the proxy), or a function that makes one for each
   * load (`"load"`), reload (`"reload"`) and resume (`"resume"`), so the page can
   * mint a fresh transcode session (a dead one's segments answer 404 forever).
   */
  src: string | ((reason: SourceReason) => string | Promise<string>);
  /** Shown in the fallback when no thumbnail is cached. */
  poster?: string;
}

/** Why `MediaItem.src` is asked for a URL. */
export type SourceReason = "load" | "reload" | "resume";

/** An error a player reported (or a player's `load` rejected with). */
export interface PlayerError {
  /** The library gave up on the item (not a hiccup it retries itself). */
  fatal: boolean;
  /** The HTTP status of the failed request, if the server answered. */
  status?: number;
  /** The module's error code (`BREAKER_OPEN`, `TIMEOUT`, `ABORTED`, ...), if it failed the request. */
  code?: string;
  message?: string;
}

/**
 * What loads media into the element when it is not the element's own `src`: a
 * streaming library (Shaka Player, dash.js, hls.js: `player-resilience/shaka`,
 * `/dashjs`, `/hlsjs`) or the page's own. The module decides when to load,
 * unload and reload; the adapter carries it out.
 */
export interface PlayerAdapter {
  /** Called once when the video is watched: route the library's requests through `r.fetch`. */
  attach?(r: { fetch: typeof fetch; enabled: boolean }): void;
  /** Loads `url` (absolute: resolved against the element's document) at `startSeconds`. Resolves when loaded; rejects with a `PlayerError` (the manifest's failure). */
  load(url: string, startSeconds: number): Promise<void>;
  /** Stops every request of the current item (the fallback, a media switch). */
  unload(): void | Promise<void>;
  /** Calls `listener` with the library's errors; returns a function that unsubscribes. */
  onError(listener: (error: PlayerError) => void): () => void;
  /** Undoes `attach` (restores the library's settings); called on dispose. */
  detach?(): void;
}

/** `attachVideo`'s options. */
export interface AttachVideoOptions {
  /** The first item to load (after a source check). Later items: `handle.load(item)`. */
  media?: MediaItem;
  /** A streaming library's adapter (e.g. `shakaPlayer(player)`); default: the element's own `src`. */
  player?: PlayerAdapter;
  /** The seek-thumbnail URL of `mediaId` at `seconds` (a multiple of `playback.thumbnailStepMs`). */
  thumbnailAt: (mediaId: string, seconds: number) => string;
  /** The workout's clock, seconds. The fallback follows it; `resume: "session"` resumes at it. */
  sessionClock: () => number;
  /** Where the video resumes: the workout's time (default) or where it stopped. Overrides `playback.resume`. */
  resume?: "session" | "stopped";
  /** A positioned element over the video: the built-in fallback view is drawn inside it. */
  overlay?: HTMLElement;
  /**
   * Images cached while the video is healthy and not starving, one request at a time:
   * the poster and the next `ahead` thumbnails first, then the rest of the item nearest
   * to the session time first, within `maxEntries` and `maxBytes` (those wanted last go
   * first). Defaults: ahead 12, maxEntries 1000, maxBytes 8 MiB.
   */
  prefetch?: { ahead?: number; maxEntries?: number; maxBytes?: number };
  /** The Cache Storage name (default "player-resilience-thumbnails"). */
  cacheName?: string;
}

/** The video's health as the watchdog sees it. */
export type VideoState = "healthy" | "stalled" | "fallback" | "resuming";

/** A watched video element. */
export class VideoHandle {
  private constructor();
  /** Switches media: every timer and request of the previous item stops first. */
  load(media: MediaItem): void;
  /** Warms the fallback for the item the page plays next: its poster and first thumbnails. */
  preload(item: { id: string; poster?: string }): void;
  readonly state: VideoState;
  readonly mediaId: string | undefined;
  /** Stops watching; the element keeps its current source. */
  dispose(): void;
  free(): void;
}

/** The breakers' persisted and shared state. Holds no URL and no secret. */
export interface Snapshot {
  version: number;
  /** Unix ms. */
  savedAt: number;
  services: { name: string; breaker: { state: BreakerState; openRemainingMs: number; reopenCount: number } }[];
}

/** One player's resilience: a resilient fetch, events and breaker controls. */
export class Resilience {
  private constructor();
  /** Whether the module is on (enabled and not disposed). */
  readonly enabled: boolean;
  /** fetch with timeouts, retries and breakers; rejects with a ResilienceError. */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /** Listens to an event; returns a function that unsubscribes. */
  on<K extends keyof ResilienceEvents>(name: K, listener: (event: ResilienceEvents[K]) => void): () => void;
  snapshot(): Snapshot;
  /** null when disabled. */
  metrics(): MetricsSnapshot | null;
  /** Closes a service's breaker; false for an unknown service. */
  reset(service: string): boolean;
  /** Holds a service's breaker open until reset; false for an unknown service. */
  isolate(service: string): boolean;
  /** Probes every open breaker now (a user's "retry"). */
  retryNow(): void;
  /** Watches a video: reload on stalls, cached-thumbnail fallback, resume. Throws a ResilienceError (CONFIG) for bad options. */
  attachVideo(video: HTMLVideoElement, options: AttachVideoOptions): VideoHandle;
  /** Shows notices as toasts in `container` (default: a stack at the bottom of the page); returns a function that removes them. */
  renderToasts(container?: HTMLElement | null): () => void;
  /** Stops every timer, listener, channel and request of this instance. */
  dispose(): void;
  /** Frees the wasm memory (also disposes). */
  free(): void;
}

/** Creates the module; throws a ResilienceError with code "CONFIG" for an invalid config. */
export function createResilience(config?: ResilienceConfig | null): Resilience;
/** Throws like createResilience, without starting anything. */
export function validateConfig(config?: ResilienceConfig | null): void;
"#;
