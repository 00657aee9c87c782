//! Byte-driven inputs for the fuzz targets: the fuzzer's bytes read as numbers,
//! strings drawn from the engine's own vocabulary, and JSON-like value trees, so
//! mutations reach deep into the config and snapshot readers.

use player_resilience::engine::value::Value;

/// Field names, states and URL shapes the engine reads: the fuzzer combines them.
const WORDS: &[&str] = &[
    "enabled",
    "services",
    "name",
    "match",
    "probeUrl",
    "breaker",
    "failureThreshold",
    "errorRateThreshold",
    "minimumRequests",
    "windowBuckets",
    "bucketMs",
    "openMs",
    "openBackoffFactor",
    "maxOpenMs",
    "halfOpenMaxTrials",
    "successThreshold",
    "slowCallsAreFailures",
    "timeouts",
    "metadataMs",
    "thumbnailMs",
    "videoMs",
    "transcodeMs",
    "slowMs",
    "retry",
    "maxAttempts",
    "statuses",
    "methods",
    "retryTimeouts",
    "retryNetworkErrors",
    "jitter",
    "initialDelayMs",
    "maxDelayMs",
    "factor",
    "holdMs",
    "deadlineMs",
    "maxRetryAfterMs",
    "budget",
    "ratio",
    "minPerSecond",
    "windowMs",
    "probe",
    "timeoutMs",
    "notices",
    "durationMs",
    "messages",
    "playback",
    "stallMs",
    "sourceRetries",
    "thumbnailStepMs",
    "resume",
    "persistence",
    "key",
    "maxAgeMs",
    "secrets",
    "report",
    "url",
    "pageId",
    "maxPerMinute",
    "classes",
    "class",
    "version",
    "savedAt",
    "state",
    "openRemainingMs",
    "reopenCount",
    "closed",
    "open",
    "halfOpen",
    "isolated",
    "session",
    "stopped",
    "equal",
    "full",
    "decorrelated",
    "none",
    "plex",
    "api",
    "metadata",
    "thumbnail",
    "video",
    "transcode",
    "GET",
    "POST",
    "HEAD",
    "X-Plex-Token",
    "slow",
    "retrying",
    "unavailable",
    "restored",
    "offline",
    "online",
    "fallback",
    "tapToResume",
    "unreadable",
    "/api/v1/proxy/plex/",
    "/api/v1/display/plex/",
    "/api/v1/",
    "/api/v1/proxy/plex/identity",
    "/api/v1/proxy/plex/stream/7?X-Plex-Token=secret",
    "/api/v1/proxy/plex/photo/:/transcode?url=/library/parts/7/indexes/sd/0",
    "/api/v1/proxy/plex/video/:/transcode/universal/start.mpd",
    "/api/v1/play/1",
    "https://h/x",
    "",
];

/// Numbers worth trying at every numeric field.
const NUMBERS: &[f64] =
    &[0.0, 1.0, -1.0, 0.5, 3.0, 10.0, 1e3, 6e4, 3.6e6, 1e9, 1e15, 9.007_199_254_740_993e15, 1e300, -0.0];

/// The fuzzer's bytes, read front to back; reads past the end give zeros.
pub struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    /// Reads `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self(data)
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The next byte.
    pub fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(b, r)| (*b, r));
        self.0 = rest;
        first
    }

    /// The next byte as a yes or no.
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 0
    }

    /// The next 8 bytes as a number.
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |n, _| (n << 8) | u64::from(self.byte()))
    }

    /// A small number below `n` (at least 1).
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    /// A time step: mostly small, sometimes huge or backwards (as a clock can go).
    pub fn step(&mut self) -> i64 {
        match self.byte() % 8 {
            0 => -(i64::from(self.byte()) * 100),
            1 => self.u64() as i64,
            _ => i64::from(self.byte()) * 250,
        }
    }

    /// A word of the engine's vocabulary, or a few raw bytes.
    pub fn word(&mut self) -> String {
        match self.below(WORDS.len() + 1) {
            i if i < WORDS.len() => WORDS[i].to_owned(),
            _ => {
                let n = self.below(16);
                String::from_utf8_lossy(&(0..n).map(|_| self.byte()).collect::<Vec<_>>()).into_owned()
            }
        }
    }

    /// A number: a notable one, NaN or infinite, or any `f64`.
    pub fn number(&mut self) -> f64 {
        match self.byte() % 6 {
            0 => f64::from_bits(self.u64()),
            1 => f64::NAN,
            2 => f64::INFINITY * if self.flag() { 1.0 } else { -1.0 },
            _ => NUMBERS[self.below(NUMBERS.len())],
        }
    }

    /// A value tree, at most `depth` levels deep, objects keyed by the vocabulary.
    pub fn value(&mut self, depth: u32) -> Value {
        let kind = if depth == 0 { self.byte() % 4 } else { self.byte() % 6 };
        match kind {
            0 => Value::Null,
            1 => Value::Bool(self.flag()),
            2 => Value::Number(self.number()),
            3 => Value::String(self.word()),
            4 => Value::Array((0..self.below(5)).map(|_| self.value(depth - 1)).collect()),
            _ => Value::Object((0..self.below(8)).map(|_| (self.word(), self.value(depth - 1))).collect()),
        }
    }
}
