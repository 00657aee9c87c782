//! Typed configuration with the design's defaults, and its validation.
//!
//! Field names are camelCase, as a JS caller writes them. Every field is optional and
//! falls back to its default; unknown fields are an error. [`Config::from_value`]
//! reads a [`Value`] (what the browser layer makes of a JS object) and validates it,
//! so every error names the field path, the rule and the value given:
//! `retry.maxAttempts must be between 1 and 10, got 0`.

use std::fmt;

use super::reader::{error, items, one_of, string, strings, whole_u16, wrong, ObjectReader, Res};
use super::redact::redact_url;
use super::value::{format_number, Value};
use super::Millis;

/// A rejected configuration: which field, which rule, which value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Path of the offending field, e.g. `services[0].breaker.openMs`.
    pub field: String,
    /// The rule it broke, phrased to follow "must", e.g. `be between 1 and 10`.
    pub rule: String,
    /// The value given, as text.
    pub value: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must {}, got {}", self.field, self.rule, self.value)
    }
}

impl std::error::Error for ConfigError {}

/// Joins a parent path and a field name: `join("retry", "factor") == "retry.factor"`.
fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_owned()
    } else {
        format!("{path}.{field}")
    }
}

fn fail(path: &str, field: &str, rule: &str, value: String) -> Box<ConfigError> {
    error(join(path, field), rule, value)
}

/// Checks `min <= value <= max` for a whole number.
fn range(path: &str, field: &str, value: u64, min: u64, max: u64) -> Res<()> {
    if value >= min && value <= max {
        Ok(())
    } else {
        Err(fail(path, field, &format!("be between {min} and {max}"), value.to_string()))
    }
}

/// Checks `min <= value <= max` for any number; NaN always fails. Floats are shown
/// by [`format_number`] (never through float `Display`, which would link the float
/// formatter into wasm).
fn range_f64(path: &str, field: &str, value: f64, min: f64, max: f64) -> Res<()> {
    if value >= min && value <= max {
        Ok(())
    } else {
        let rule = format!("be between {} and {}", format_number(min), format_number(max));
        Err(fail(path, field, &rule, format_number(value)))
    }
}

/// Checks a list's length.
fn length(path: &str, field: &str, len: usize, min: u64, max: u64) -> Res<()> {
    range(path, field, u64::try_from(len).unwrap_or(u64::MAX), min, max)
}

/// The whole configuration; `Config::default()` is the design's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Off by default: a disabled module is a pure pass-through.
    pub enabled: bool,
    /// Per-class timeouts and the soft "slow" deadline.
    pub timeouts: TimeoutConfig,
    /// When and how failed requests are retried.
    pub retry: RetryConfig,
    /// How many retries the whole client may spend, relative to its requests.
    pub budget: BudgetConfig,
    /// Health probes while a breaker is open.
    pub probe: ProbeConfig,
    /// User notices.
    pub notices: NoticeConfig,
    /// The video watchdog and fallback session.
    pub playback: PlaybackConfig,
    /// Persisted breaker state.
    pub persistence: PersistenceConfig,
    /// Services, each with its own breaker; first match wins. Giving this list
    /// replaces the default one. URLs that match no service pass through untouched.
    pub services: Vec<ServiceConfig>,
    /// Request class rules; first match wins, anything else is `metadata`.
    /// Giving this list replaces the default one.
    pub classes: Vec<ClassRule>,
    /// Query parameters and headers that are secrets: redacted wherever a URL is
    /// reported, never stored. Compared case-insensitively.
    pub secrets: Vec<String>,
    /// Reports of breaker and fallback changes to the backend; `None` (the
    /// default): nothing is ever sent.
    pub report: Option<ReportConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: false,
            timeouts: TimeoutConfig::default(),
            retry: RetryConfig::default(),
            budget: BudgetConfig::default(),
            probe: ProbeConfig::default(),
            notices: NoticeConfig::default(),
            playback: PlaybackConfig::default(),
            persistence: PersistenceConfig::default(),
            services: vec![
                ServiceConfig {
                    name: "plex".into(),
                    matches: vec!["/api/v1/proxy/plex/".into(), "/api/v1/display/plex/".into()],
                    probe_url: Some("/api/v1/proxy/plex/identity".into()),
                    breaker: BreakerConfig { failure_threshold: 3, ..BreakerConfig::default() },
                },
                ServiceConfig {
                    name: "api".into(),
                    matches: vec!["/api/v1/".into()],
                    probe_url: None,
                    breaker: BreakerConfig::default(),
                },
            ],
            // First match wins. A streaming player's transcode start (the MPD or
            // the HLS master it answers) is a transcode, its manifests and
            // playlists (wherever they are) are light, its segments (under the
            // transcode session) are video. These rules come before the earlier
            // ones, which keep their order: a URL with none of their patterns
            // keeps the class it had.
            classes: vec![
                ClassRule { class: RequestClass::Probe, matches: vec!["/identity".into()] },
                ClassRule { class: RequestClass::Transcode, matches: vec!["/transcode/universal/start".into()] },
                ClassRule { class: RequestClass::Metadata, matches: vec![".mpd".into(), ".m3u8".into()] },
                ClassRule { class: RequestClass::Video, matches: vec!["/transcode/universal/session/".into()] },
                ClassRule { class: RequestClass::Transcode, matches: vec!["/video/:/transcode/".into()] },
                ClassRule {
                    class: RequestClass::Thumbnail,
                    matches: vec!["/photo/:/transcode".into(), "/api/v1/display/".into()],
                },
                ClassRule { class: RequestClass::Video, matches: vec!["/proxy/plex/stream/".into()] },
            ],
            secrets: vec!["X-Plex-Token".into()],
            report: None,
        }
    }
}

impl Config {
    /// Reads a config from a [`Value`] and validates it: `null` is every default,
    /// like `{}`. Type errors and unknown fields name their path too.
    pub fn from_value(value: &Value) -> Result<Self, ConfigError> {
        Self::parse(value).map_err(|e| *e)
    }

    fn parse(value: &Value) -> Res<Self> {
        let mut config = Config::default();
        if !matches!(value, Value::Null) {
            config.read(ObjectReader::new(String::new(), value)?)?;
        }
        config.check()?;
        Ok(config)
    }

    /// Reads the fields given over the defaults.
    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.bool("enabled", &mut self.enabled)?;
        if let Some(o) = r.object("timeouts")? {
            self.timeouts.read(o)?;
        }
        if let Some(o) = r.object("retry")? {
            self.retry.read(o)?;
        }
        if let Some(o) = r.object("budget")? {
            self.budget.read(o)?;
        }
        if let Some(o) = r.object("probe")? {
            self.probe.read(o)?;
        }
        if let Some(o) = r.object("notices")? {
            self.notices.read(o)?;
        }
        if let Some(o) = r.object("playback")? {
            self.playback.read(o)?;
        }
        if let Some(o) = r.object("persistence")? {
            self.persistence.read(o)?;
        }
        if let Some((path, v)) = r.get("services") {
            self.services.clear();
            for (path, v) in items(&path, v)? {
                self.services.push(ServiceConfig::read(ObjectReader::new(path, v)?)?);
            }
        }
        if let Some((path, v)) = r.get("classes") {
            self.classes.clear();
            for (path, v) in items(&path, v)? {
                self.classes.push(ClassRule::read(ObjectReader::new(path, v)?)?);
            }
        }
        r.strings("secrets", &mut self.secrets)?;
        if let Some((path, v)) = r.get("report") {
            self.report = match v {
                Value::Null => None,
                v => Some(ReportConfig::read(ObjectReader::new(path, v)?)?),
            };
        }
        r.finish()
    }

    /// Checks every field against its rule; the first broken rule is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check().map_err(|e| *e)
    }

    fn check(&self) -> Res<()> {
        self.timeouts.check("timeouts")?;
        self.retry.check("retry")?;
        self.budget.check("budget")?;
        self.probe.check("probe")?;
        self.notices.check("notices")?;
        self.playback.check("playback")?;
        self.persistence.check("persistence")?;
        length("", "services.length", self.services.len(), 0, 32)?;
        for (i, service) in self.services.iter().enumerate() {
            let path = format!("services[{i}]");
            service.check(&path)?;
            if self.services.iter().take(i).any(|s| s.name == service.name) {
                return Err(fail(&path, "name", "be unique", service.name.clone()));
            }
        }
        length("", "classes.length", self.classes.len(), 0, 32)?;
        for (i, rule) in self.classes.iter().enumerate() {
            patterns(&format!("classes[{i}]"), &rule.matches)?;
        }
        for (i, secret) in self.secrets.iter().enumerate() {
            if secret.trim().is_empty() {
                return Err(fail("", &format!("secrets[{i}]"), "be non-empty", "\"\"".into()));
            }
        }
        match &self.report {
            Some(report) => report.check("report", &self.secrets),
            None => Ok(()),
        }
    }

    /// The timeout for a request class.
    pub fn timeout_for(&self, class: RequestClass) -> Millis {
        let t = &self.timeouts;
        match class {
            RequestClass::Video => t.video_ms,
            RequestClass::Transcode => t.transcode_ms,
            RequestClass::Thumbnail => t.thumbnail_ms,
            RequestClass::Metadata => t.metadata_ms,
            RequestClass::Probe => self.probe.timeout_ms,
        }
    }
}

/// What kind of request a URL is; picks its timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestClass {
    /// The video stream (range requests).
    Video,
    /// A transcode session.
    Transcode,
    /// Seek thumbnails and posters.
    Thumbnail,
    /// JSON metadata and anything unclassified.
    Metadata,
    /// A health probe.
    Probe,
}

impl RequestClass {
    /// Every class, in a fixed order (for metrics tables).
    pub const ALL: [RequestClass; 5] = [
        RequestClass::Video,
        RequestClass::Transcode,
        RequestClass::Thumbnail,
        RequestClass::Metadata,
        RequestClass::Probe,
    ];

    /// The camelCase name used in JSON and events.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestClass::Video => "video",
            RequestClass::Transcode => "transcode",
            RequestClass::Thumbnail => "thumbnail",
            RequestClass::Metadata => "metadata",
            RequestClass::Probe => "probe",
        }
    }

    /// The class named `name` (as [`RequestClass::as_str`] writes it).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// Per-class timeouts (guardrails §5) and the soft deadline that triggers "slow".
#[derive(Debug, Clone, PartialEq)]
pub struct TimeoutConfig {
    /// Metadata (JSON) requests.
    pub metadata_ms: Millis,
    /// Thumbnails and posters.
    pub thumbnail_ms: Millis,
    /// The video stream.
    pub video_ms: Millis,
    /// Transcode requests.
    pub transcode_ms: Millis,
    /// Past this, a request still in flight is "slow": notice, and optionally a
    /// breaker failure.
    pub slow_ms: Millis,
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        Self { metadata_ms: 10_000, thumbnail_ms: 10_000, video_ms: 30_000, transcode_ms: 60_000, slow_ms: 3_000 }
    }
}

const MAX_TIMEOUT_MS: Millis = 600_000;

impl TimeoutConfig {
    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.millis("metadataMs", &mut self.metadata_ms)?;
        r.millis("thumbnailMs", &mut self.thumbnail_ms)?;
        r.millis("videoMs", &mut self.video_ms)?;
        r.millis("transcodeMs", &mut self.transcode_ms)?;
        r.millis("slowMs", &mut self.slow_ms)?;
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        range(p, "metadataMs", self.metadata_ms, 100, MAX_TIMEOUT_MS)?;
        range(p, "thumbnailMs", self.thumbnail_ms, 100, MAX_TIMEOUT_MS)?;
        range(p, "videoMs", self.video_ms, 100, MAX_TIMEOUT_MS)?;
        range(p, "transcodeMs", self.transcode_ms, 100, MAX_TIMEOUT_MS)?;
        range(p, "slowMs", self.slow_ms, 100, MAX_TIMEOUT_MS)
    }
}

/// How backoff delays are randomised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    /// Uniform in `0..=exponential delay` (AWS "full jitter"): the default.
    Full,
    /// Uniform in `min..=previous * 3`, capped (AWS "decorrelated jitter").
    Decorrelated,
    /// Half the exponential delay fixed, half random ("equal jitter"): never early.
    Equal,
    /// The plain exponential delay.
    None,
}

impl Jitter {
    /// The jitter named `name` in camelCase (`full`, `decorrelated`, `equal`, `none`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "full" => Some(Jitter::Full),
            "decorrelated" => Some(Jitter::Decorrelated),
            "equal" => Some(Jitter::Equal),
            "none" => Some(Jitter::None),
            _ => None,
        }
    }
}

/// When and how failed requests are retried (guardrails §4).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryConfig {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// Base delay before the first retry.
    pub initial_delay_ms: Millis,
    /// Cap on any one delay.
    pub max_delay_ms: Millis,
    /// Growth of the delay per attempt.
    pub factor: f64,
    /// How delays are randomised.
    pub jitter: Jitter,
    /// Methods that may be retried (idempotent ones), upper-case.
    pub methods: Vec<String>,
    /// Response statuses that are retried.
    pub statuses: Vec<u16>,
    /// Retry requests that hit their timeout.
    pub retry_timeouts: bool,
    /// Retry network errors (reset, refused, DNS).
    pub retry_network_errors: bool,
    /// No retry may start later than this after the first attempt began.
    pub deadline_ms: Millis,
    /// Cap on a server's `Retry-After`.
    pub max_retry_after_ms: Millis,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            initial_delay_ms: 2_000,
            max_delay_ms: 30_000,
            factor: 2.0,
            jitter: Jitter::Full,
            methods: vec!["GET".into(), "HEAD".into(), "OPTIONS".into()],
            statuses: vec![429, 502, 503, 504],
            retry_timeouts: true,
            retry_network_errors: true,
            deadline_ms: 120_000,
            max_retry_after_ms: 60_000,
        }
    }
}

impl RetryConfig {
    /// Whether requests with `method` may be retried (compared case-insensitively).
    pub fn is_idempotent(&self, method: &str) -> bool {
        // An exact match first: the common case, without folding case.
        self.methods.iter().any(|m| m == method) || self.methods.iter().any(|m| m.eq_ignore_ascii_case(method))
    }

    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.u32("maxAttempts", &mut self.max_attempts)?;
        r.millis("initialDelayMs", &mut self.initial_delay_ms)?;
        r.millis("maxDelayMs", &mut self.max_delay_ms)?;
        r.f64("factor", &mut self.factor)?;
        if let Some((path, v)) = r.get("jitter") {
            self.jitter = one_of(path, v, "full, decorrelated, equal, none", Jitter::parse)?;
        }
        r.strings("methods", &mut self.methods)?;
        if let Some((path, v)) = r.get("statuses") {
            self.statuses.clear();
            for (path, v) in items(&path, v)? {
                self.statuses.push(whole_u16(path, v)?);
            }
        }
        r.bool("retryTimeouts", &mut self.retry_timeouts)?;
        r.bool("retryNetworkErrors", &mut self.retry_network_errors)?;
        r.millis("deadlineMs", &mut self.deadline_ms)?;
        r.millis("maxRetryAfterMs", &mut self.max_retry_after_ms)?;
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        range(p, "maxAttempts", self.max_attempts.into(), 1, 10)?;
        range(p, "initialDelayMs", self.initial_delay_ms, 0, 60_000)?;
        range(p, "maxDelayMs", self.max_delay_ms, self.initial_delay_ms, MAX_TIMEOUT_MS)?;
        range_f64(p, "factor", self.factor, 1.0, 10.0)?;
        for (i, m) in self.methods.iter().enumerate() {
            if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(fail(p, &format!("methods[{i}]"), "be an upper-case HTTP method", m.clone()));
            }
        }
        for (i, s) in self.statuses.iter().enumerate() {
            range(p, &format!("statuses[{i}]"), (*s).into(), 400, 599)?;
        }
        range(p, "deadlineMs", self.deadline_ms, 1_000, 3_600_000)?;
        range(p, "maxRetryAfterMs", self.max_retry_after_ms, 0, 3_600_000)
    }
}

/// A retry budget like tower's and gRPC's: retries may be at most `ratio` of the
/// requests seen in the last `windowMs`, plus a floor of `minPerSecond`.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetConfig {
    /// Retries allowed per request in the window (0.2 = one retry per five requests).
    pub ratio: f64,
    /// Retries always allowed per second of window, whatever the traffic.
    pub min_per_second: f64,
    /// How far back requests and retries are counted.
    pub window_ms: Millis,
}

impl Default for BudgetConfig {
    fn default() -> Self {
        Self { ratio: 0.2, min_per_second: 0.5, window_ms: 10_000 }
    }
}

impl BudgetConfig {
    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.f64("ratio", &mut self.ratio)?;
        r.f64("minPerSecond", &mut self.min_per_second)?;
        r.millis("windowMs", &mut self.window_ms)?;
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        range_f64(p, "ratio", self.ratio, 0.0, 1.0)?;
        range_f64(p, "minPerSecond", self.min_per_second, 0.0, 100.0)?;
        range(p, "windowMs", self.window_ms, 1_000, 600_000)
    }
}

/// One service: its URLs, its breaker and how to probe it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// A short name: lower-case letters, digits, `-` or `_`.
    pub name: String,
    /// Substrings of the URL that route a request to this service.
    pub matches: Vec<String>,
    /// A deep health endpoint. With one, an open breaker recovers through probes;
    /// without, it goes half-open when its open time has passed.
    pub probe_url: Option<String>,
    /// The breaker's policy (fields not given take the defaults).
    pub breaker: BreakerConfig,
}

impl ServiceConfig {
    fn read(mut r: ObjectReader<'_>) -> Res<Self> {
        let (path, v) = r.need("name")?;
        let name = string(path, v)?;
        let (path, v) = r.need("match")?;
        let mut c = Self { name, matches: strings(&path, v)?, probe_url: None, breaker: BreakerConfig::default() };
        if let Some((path, v)) = r.get("probeUrl") {
            if !matches!(v, Value::Null) {
                c.probe_url = Some(string(path, v)?);
            }
        }
        if let Some(o) = r.object("breaker")? {
            c.breaker.read(o)?;
        }
        r.finish()?;
        Ok(c)
    }

    fn check(&self, p: &str) -> Res<()> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 32
            && self.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !name_ok {
            return Err(fail(p, "name", "be 1 to 32 of a-z, 0-9, - or _", Value::from(self.name.as_str()).to_json()));
        }
        patterns(p, &self.matches)?;
        if let Some(url) = &self.probe_url {
            if url.trim().is_empty() {
                return Err(fail(p, "probeUrl", "be a non-empty URL", "\"\"".into()));
            }
        }
        self.breaker.check(&join(p, "breaker"))
    }
}

fn patterns(p: &str, matches: &[String]) -> Res<()> {
    length(p, "match.length", matches.len(), 1, 32)?;
    for (i, m) in matches.iter().enumerate() {
        if m.is_empty() {
            return Err(fail(p, &format!("match[{i}]"), "be a non-empty string", "\"\"".into()));
        }
    }
    Ok(())
}

/// Which class a URL belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassRule {
    /// The class given to matching URLs.
    pub class: RequestClass,
    /// Substrings of the URL that select this class.
    pub matches: Vec<String>,
}

impl ClassRule {
    fn read(mut r: ObjectReader<'_>) -> Res<Self> {
        let (path, v) = r.need("class")?;
        let class = one_of(path, v, "video, transcode, thumbnail, metadata, probe", RequestClass::parse)?;
        let (path, v) = r.need("match")?;
        let c = Self { class, matches: strings(&path, v)? };
        r.finish()?;
        Ok(c)
    }
}

/// A circuit breaker's policy (guardrails §2).
#[derive(Debug, Clone, PartialEq)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failure_threshold: u32,
    /// Error rate (0..1] over the window that opens the breaker...
    pub error_rate_threshold: f64,
    /// ...once the window holds at least this many calls.
    pub minimum_requests: u32,
    /// Buckets in the rolling window.
    pub window_buckets: u32,
    /// Width of one bucket.
    pub bucket_ms: Millis,
    /// How long the first open lasts.
    pub open_ms: Millis,
    /// Each reopen without a close in between multiplies the open time by this.
    pub open_backoff_factor: f64,
    /// Cap on the open time.
    pub max_open_ms: Millis,
    /// Trials admitted at once while half-open.
    pub half_open_max_trials: u32,
    /// Successful trials that close the breaker.
    pub success_threshold: u32,
    /// Calls slower than `timeouts.slowMs` count as failures.
    pub slow_calls_are_failures: bool,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            error_rate_threshold: 0.5,
            minimum_requests: 10,
            window_buckets: 10,
            bucket_ms: 1_000,
            open_ms: 30_000,
            open_backoff_factor: 2.0,
            max_open_ms: 300_000,
            half_open_max_trials: 3,
            success_threshold: 3,
            slow_calls_are_failures: false,
        }
    }
}

impl BreakerConfig {
    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.u32("failureThreshold", &mut self.failure_threshold)?;
        r.f64("errorRateThreshold", &mut self.error_rate_threshold)?;
        r.u32("minimumRequests", &mut self.minimum_requests)?;
        r.u32("windowBuckets", &mut self.window_buckets)?;
        r.millis("bucketMs", &mut self.bucket_ms)?;
        r.millis("openMs", &mut self.open_ms)?;
        r.f64("openBackoffFactor", &mut self.open_backoff_factor)?;
        r.millis("maxOpenMs", &mut self.max_open_ms)?;
        r.u32("halfOpenMaxTrials", &mut self.half_open_max_trials)?;
        r.u32("successThreshold", &mut self.success_threshold)?;
        r.bool("slowCallsAreFailures", &mut self.slow_calls_are_failures)?;
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        range(p, "failureThreshold", self.failure_threshold.into(), 1, 1_000)?;
        if !(self.error_rate_threshold > 0.0 && self.error_rate_threshold <= 1.0) {
            return Err(fail(
                p,
                "errorRateThreshold",
                "be greater than 0 and at most 1",
                format_number(self.error_rate_threshold),
            ));
        }
        range(p, "minimumRequests", self.minimum_requests.into(), 1, 100_000)?;
        range(p, "windowBuckets", self.window_buckets.into(), 1, 120)?;
        range(p, "bucketMs", self.bucket_ms, 100, 600_000)?;
        range(p, "openMs", self.open_ms, 100, 3_600_000)?;
        range_f64(p, "openBackoffFactor", self.open_backoff_factor, 1.0, 10.0)?;
        range(p, "maxOpenMs", self.max_open_ms, self.open_ms, 86_400_000)?;
        range(p, "halfOpenMaxTrials", self.half_open_max_trials.into(), 1, 100)?;
        range(p, "successThreshold", self.success_threshold.into(), 1, 100)
    }
}

/// Health probes while a breaker is open (health-check research).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeConfig {
    /// Delay before the first probe after the breaker opens, and between probes
    /// during the hold: the least spacing of probes (jitter only adds).
    pub initial_delay_ms: Millis,
    /// Cap on the delay between probes (before jitter).
    pub max_delay_ms: Millis,
    /// How long after the breaker opened probes keep `initial_delay_ms`; then
    /// each failed probe grows the delay by `factor`.
    pub hold_ms: Millis,
    /// Growth of the delay after each failed probe past the hold.
    pub factor: f64,
    /// A probe that has not answered by then has failed.
    pub timeout_ms: Millis,
    /// Consecutive successful probes that move the breaker to half-open.
    pub success_threshold: u32,
    /// Make each delay up to a fifth longer, at random, so clients spread out.
    pub jitter: bool,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            initial_delay_ms: 15_000,
            max_delay_ms: 60_000,
            hold_ms: 300_000,
            factor: 2.0,
            timeout_ms: 5_000,
            success_threshold: 1,
            jitter: true,
        }
    }
}

impl ProbeConfig {
    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.millis("initialDelayMs", &mut self.initial_delay_ms)?;
        r.millis("maxDelayMs", &mut self.max_delay_ms)?;
        r.millis("holdMs", &mut self.hold_ms)?;
        r.f64("factor", &mut self.factor)?;
        r.millis("timeoutMs", &mut self.timeout_ms)?;
        r.u32("successThreshold", &mut self.success_threshold)?;
        r.bool("jitter", &mut self.jitter)?;
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        range(p, "initialDelayMs", self.initial_delay_ms, 100, 600_000)?;
        range(p, "maxDelayMs", self.max_delay_ms, self.initial_delay_ms, 3_600_000)?;
        range(p, "holdMs", self.hold_ms, 0, 3_600_000)?;
        range_f64(p, "factor", self.factor, 1.0, 10.0)?;
        range(p, "timeoutMs", self.timeout_ms, 100, 120_000)?;
        range(p, "successThreshold", self.success_threshold.into(), 1, 20)
    }
}

/// The stable keys of the notice catalogue, in the order a problem unfolds.
pub const NOTICE_KEYS: [&str; 9] =
    ["slow", "retrying", "unavailable", "fallback", "restored", "offline", "online", "tapToResume", "unreadable"];

/// [`NOTICE_KEYS`] as listed in errors.
const NOTICE_KEY_LIST: &str =
    "slow, retrying, unavailable, fallback, restored, offline, online, tapToResume, unreadable";

/// User notices (guardrails §4).
#[derive(Debug, Clone, PartialEq)]
pub struct NoticeConfig {
    /// How long a notice stays up.
    pub duration_ms: Millis,
    /// The same notice for the same service is not repeated within this time.
    pub min_interval_ms: Millis,
    /// Text overrides as `(key, text)` (keys from [`NOTICE_KEYS`]), for wording or
    /// i18n; sorted by key, each key once (see [`NoticeConfig::set_message`]).
    pub messages: Vec<(String, String)>,
}

impl Default for NoticeConfig {
    fn default() -> Self {
        Self { duration_ms: 5_000, min_interval_ms: 30_000, messages: Vec::new() }
    }
}

impl NoticeConfig {
    /// The override for `key`, if any.
    pub fn message(&self, key: &str) -> Option<&str> {
        self.messages.iter().find(|(k, _)| k == key).map(|(_, text)| text.as_str())
    }

    /// Sets the override for `key`, replacing any earlier one and keeping
    /// [`NoticeConfig::messages`] sorted by key.
    pub fn set_message(&mut self, key: String, text: String) {
        let at = self.messages.partition_point(|(k, _)| *k < key);
        match self.messages.get_mut(at) {
            Some(entry) if entry.0 == key => entry.1 = text,
            _ => self.messages.insert(at, (key, text)),
        }
    }

    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.millis("durationMs", &mut self.duration_ms)?;
        r.millis("minIntervalMs", &mut self.min_interval_ms)?;
        if let Some((path, v)) = r.get("messages") {
            // The keys are data, checked by `check`; a key given twice keeps its last text.
            let Value::Object(fields) = v else { return Err(wrong(path, "be an object", v)) };
            self.messages.clear();
            for (key, text) in fields {
                self.set_message(key.clone(), string(format!("{path}.{key}"), text)?);
            }
        }
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        range(p, "durationMs", self.duration_ms, 500, 600_000)?;
        range(p, "minIntervalMs", self.min_interval_ms, 0, 3_600_000)?;
        for (key, text) in &self.messages {
            let field = format!("messages.{key}");
            if !NOTICE_KEYS.contains(&key.as_str()) {
                return Err(fail(p, &field, &format!("be one of {NOTICE_KEY_LIST}"), "an unknown key".into()));
            }
            length(p, &format!("{field}.length"), text.chars().count(), 1, 200)?;
        }
        Ok(())
    }
}

/// Where the video resumes when the server is back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumeAt {
    /// Where the workout is now (the session clock): the default.
    Session,
    /// Where the video stopped.
    Stopped,
}

impl ResumeAt {
    /// The place named `name` in camelCase (`session`, `stopped`).
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "session" => Some(ResumeAt::Session),
            "stopped" => Some(ResumeAt::Stopped),
            _ => None,
        }
    }
}

/// The video watchdog and the fallback session.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaybackConfig {
    /// `currentTime` not advancing this long while playing is a stall.
    pub stall_ms: Millis,
    /// Where to resume.
    pub resume: ResumeAt,
    /// Spacing of the server's seek thumbnails (Plex index frames).
    pub thumbnail_step_ms: Millis,
    /// Reloads of the video source before giving up to fallback.
    pub source_retries: u32,
}

impl Default for PlaybackConfig {
    fn default() -> Self {
        Self { stall_ms: 1_200, resume: ResumeAt::Session, thumbnail_step_ms: 10_000, source_retries: 2 }
    }
}

impl PlaybackConfig {
    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.millis("stallMs", &mut self.stall_ms)?;
        if let Some((path, v)) = r.get("resume") {
            self.resume = one_of(path, v, "session, stopped", ResumeAt::parse)?;
        }
        r.millis("thumbnailStepMs", &mut self.thumbnail_step_ms)?;
        r.u32("sourceRetries", &mut self.source_retries)?;
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        range(p, "stallMs", self.stall_ms, 250, 60_000)?;
        range(p, "thumbnailStepMs", self.thumbnail_step_ms, 100, 600_000)?;
        range(p, "sourceRetries", self.source_retries.into(), 0, 10)
    }
}

/// Breaker state kept across reloads.
#[derive(Debug, Clone, PartialEq)]
pub struct PersistenceConfig {
    /// Persist and share breaker state.
    pub enabled: bool,
    /// Storage key.
    pub key: String,
    /// Stored state older than this is ignored.
    pub max_age_ms: Millis,
}

impl Default for PersistenceConfig {
    fn default() -> Self {
        Self { enabled: true, key: "player-resilience".into(), max_age_ms: 3_600_000 }
    }
}

impl PersistenceConfig {
    fn read(&mut self, mut r: ObjectReader<'_>) -> Res<()> {
        r.bool("enabled", &mut self.enabled)?;
        r.string("key", &mut self.key)?;
        r.millis("maxAgeMs", &mut self.max_age_ms)?;
        r.finish()
    }

    fn check(&self, p: &str) -> Res<()> {
        length(p, "key.length", self.key.len(), 1, 100)?;
        range(p, "maxAgeMs", self.max_age_ms, 1_000, 7 * 86_400_000)
    }
}

/// Reports to the backend (see [`super::report`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ReportConfig {
    /// Where reports are sent (`navigator.sendBeacon`); required. No secret in its query.
    pub url: String,
    /// The rate limit: a token bucket of this many reports, one back every
    /// `60 / max_per_minute` seconds.
    pub max_per_minute: u32,
    /// The page's id in reports; `None`: 16 random hex digits.
    pub page_id: Option<String>,
}

impl ReportConfig {
    fn read(mut r: ObjectReader<'_>) -> Res<Self> {
        let (path, v) = r.need("url")?;
        let mut c = Self { url: string(path, v)?, max_per_minute: 6, page_id: None };
        r.u32("maxPerMinute", &mut c.max_per_minute)?;
        if let Some((path, v)) = r.get("pageId") {
            c.page_id = Some(string(path, v)?);
        }
        r.finish()?;
        Ok(c)
    }

    fn check(&self, p: &str, secrets: &[String]) -> Res<()> {
        if self.url.trim().is_empty() {
            return Err(fail(p, "url", "be a non-empty URL", Value::from(self.url.as_str()).to_json()));
        }
        // Redaction changes only a URL that carries a secret (the fragment aside).
        let redacted = redact_url(&self.url, secrets);
        if redacted != redact_url(&self.url, &[]) {
            return Err(fail(p, "url", "not carry a secret in its query", Value::from(redacted).to_json()));
        }
        range(p, "maxPerMinute", self.max_per_minute.into(), 1, 60)?;
        if let Some(id) = &self.page_id {
            let ok =
                (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                return Err(fail(
                    p,
                    "pageId",
                    "be 1 to 64 of A-Z, a-z, 0-9, - or _",
                    Value::from(id.as_str()).to_json(),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::value::from_json_text;

    fn parse(json: &str) -> Result<Config, ConfigError> {
        Config::from_value(&from_json_text(json))
    }

    #[test]
    fn defaults_are_the_designs_and_valid() {
        let c = Config::default();
        assert_eq!(c.validate(), Ok(()));
        assert!(!c.enabled);
        assert_eq!(c.timeout_for(RequestClass::Metadata), 10_000);
        assert_eq!(c.timeout_for(RequestClass::Thumbnail), 10_000);
        assert_eq!(c.timeout_for(RequestClass::Video), 30_000);
        assert_eq!(c.timeout_for(RequestClass::Transcode), 60_000);
        assert_eq!(c.timeout_for(RequestClass::Probe), 5_000);
        assert_eq!(c.retry.max_attempts, 3);
        assert_eq!(c.services.first().map(|s| s.breaker.failure_threshold), Some(3));
    }

    #[test]
    fn empty_object_is_the_defaults() {
        assert_eq!(parse("{}"), Ok(Config::default()));
    }

    #[test]
    fn camel_case_overrides_keep_other_defaults() {
        let c = parse(r#"{"enabled":true,"retry":{"maxAttempts":5}}"#).unwrap();
        assert!(c.enabled);
        assert_eq!(c.retry.max_attempts, 5);
        assert_eq!(c.retry.initial_delay_ms, 2_000);
    }

    #[test]
    fn range_error_names_field_rule_and_value() {
        let e = parse(r#"{"retry":{"maxAttempts":0}}"#).unwrap_err();
        assert_eq!(e.to_string(), "retry.maxAttempts must be between 1 and 10, got 0");
        assert_eq!(e.field, "retry.maxAttempts");
    }

    #[test]
    fn nested_service_errors_carry_the_index() {
        let e = parse(r#"{"services":[{"name":"a","match":["/a"],"breaker":{"openMs":5}}]}"#).unwrap_err();
        assert_eq!(e.field, "services[0].breaker.openMs");
        let e = parse(r#"{"services":[{"name":"a","match":["/a"]},{"name":"a","match":["/b"]}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "services[1].name must be unique, got a");
    }

    #[test]
    fn unknown_fields_are_errors_with_their_path() {
        let e = parse(r#"{"retry":{"maxAttempt":3}}"#).unwrap_err();
        assert_eq!(e.field, "retry.maxAttempt");
        assert_eq!(e.rule, "be a known field");
        assert_eq!(e.value, "3");
        assert_eq!(parse(r#"{"nope":1}"#).unwrap_err().field, "nope");
    }

    #[test]
    fn wrong_types_name_their_path() {
        let e = parse(r#"{"timeouts":{"videoMs":"soon"}}"#).unwrap_err();
        assert_eq!(e.field, "timeouts.videoMs");
        assert_eq!(e.rule, "be a whole number");
        assert_eq!(e.value, r#""soon""#);
        let e = parse(r#"{"playback":{"resume":"later"}}"#).unwrap_err();
        assert_eq!(e.field, "playback.resume");
    }

    #[test]
    fn null_is_the_defaults_and_other_non_objects_are_errors() {
        assert_eq!(Config::from_value(&Value::Null), Ok(Config::default()));
        let e = parse("[]").unwrap_err();
        assert_eq!(e.to_string(), "config must be an object, got []");
        let e = parse(r#"{"retry":5}"#).unwrap_err();
        assert_eq!(e.to_string(), "retry must be an object, got 5");
    }

    #[test]
    fn every_section_and_list_is_read() {
        let c = parse(
            r#"{"timeouts":{"slowMs":500},"retry":{"jitter":"decorrelated","statuses":[503],"methods":["GET"],
                "factor":1.5},"budget":{"ratio":0.5},"probe":{"jitter":false},
                "notices":{"messages":{"slow":"Lent…"}},"playback":{"resume":"stopped"},
                "persistence":{"key":"k","enabled":false},
                "services":[{"name":"s","match":["/s/"],"probeUrl":null,"breaker":{"failureThreshold":9}},
                            {"name":"t","match":["/t/"],"probeUrl":"/t/health"}],
                "classes":[{"class":"thumbnail","match":["/img/"]}],"secrets":["token","key"]}"#,
        )
        .unwrap();
        assert_eq!(c.timeouts.slow_ms, 500);
        assert_eq!(
            (c.retry.jitter, c.retry.statuses.as_slice(), c.retry.factor),
            (Jitter::Decorrelated, &[503][..], 1.5)
        );
        assert_eq!((c.budget.ratio, c.probe.jitter, c.playback.resume), (0.5, false, ResumeAt::Stopped));
        assert_eq!(c.notices.message("slow"), Some("Lent…"));
        let mut n = NoticeConfig::default();
        n.set_message("slow".into(), "a".into());
        n.set_message("offline".into(), "b".into());
        n.set_message("slow".into(), "c".into());
        assert_eq!(n.messages, vec![("offline".into(), "b".into()), ("slow".into(), "c".into())]);
        assert_eq!((c.persistence.key.as_str(), c.persistence.enabled), ("k", false));
        let [s, t] = c.services.as_slice() else { panic!("two services") };
        assert_eq!((s.probe_url.as_deref(), t.probe_url.as_deref()), (None, Some("/t/health")));
        // A breaker given in part takes the defaults for the rest; one not given is all defaults.
        assert_eq!(s.breaker, BreakerConfig { failure_threshold: 9, ..BreakerConfig::default() });
        assert_eq!(t.breaker, BreakerConfig::default());
        assert_eq!(c.classes, vec![ClassRule { class: RequestClass::Thumbnail, matches: vec!["/img/".into()] }]);
        assert_eq!(c.secrets, vec!["token".to_string(), "key".to_string()]);
    }

    #[test]
    fn type_errors_say_what_was_expected_and_what_came() {
        let cases = [
            (r#"{"enabled":"yes"}"#, r#"enabled must be a boolean, got "yes""#),
            (r#"{"retry":{"factor":"2"}}"#, r#"retry.factor must be a number, got "2""#),
            (r#"{"retry":{"maxAttempts":2.5}}"#, "retry.maxAttempts must be a whole number, got 2.5"),
            (r#"{"timeouts":{"videoMs":-1}}"#, "timeouts.videoMs must be a whole number, got -1"),
            (r#"{"retry":{"maxAttempts":5000000000}}"#, "retry.maxAttempts must be at most 4294967295, got 5000000000"),
            (r#"{"retry":{"statuses":[503,"x"]}}"#, r#"retry.statuses[1] must be a whole number, got "x""#),
            (r#"{"retry":{"statuses":[70000]}}"#, "retry.statuses[0] must be at most 65535, got 70000"),
            (r#"{"retry":{"methods":"GET"}}"#, r#"retry.methods must be an array, got "GET""#),
            (
                r#"{"retry":{"jitter":"some"}}"#,
                r#"retry.jitter must be one of full, decorrelated, equal, none, got "some""#,
            ),
            (r#"{"playback":{"resume":null}}"#, "playback.resume must be one of session, stopped, got null"),
            (r#"{"secrets":[1]}"#, "secrets[0] must be a string, got 1"),
            (r#"{"services":[{"match":["/a"]}]}"#, "services[0].name must be given, got nothing"),
            (r#"{"services":[{"name":"a"}]}"#, "services[0].match must be given, got nothing"),
            (
                r#"{"services":[{"name":"a","match":["/a"],"probeUrl":5}]}"#,
                "services[0].probeUrl must be a string, got 5",
            ),
            (
                r#"{"services":[{"name":"a","match":["/a"],"breaker":{"x":1}}]}"#,
                "services[0].breaker.x must be a known field, got 1",
            ),
            (r#"{"services":[7]}"#, "services[0] must be an object, got 7"),
            (
                r#"{"classes":[{"class":"audio","match":["/a"]}]}"#,
                r#"classes[0].class must be one of video, transcode, thumbnail, metadata, probe, got "audio""#,
            ),
            (r#"{"notices":{"messages":{"slow":1}}}"#, "notices.messages.slow must be a string, got 1"),
            (r#"{"notices":{"messages":[]}}"#, "notices.messages must be an object, got []"),
        ];
        for (json, message) in cases {
            assert_eq!(parse(json).unwrap_err().to_string(), message, "{json}");
        }
    }

    #[test]
    fn report_is_off_by_default_and_read_with_its_defaults() {
        assert_eq!(Config::default().report, None);
        assert_eq!(parse(r#"{"report":null}"#).unwrap().report, None);
        let c = parse(r#"{"report":{"url":"/api/v1/player/report"}}"#).unwrap();
        let expected = ReportConfig { url: "/api/v1/player/report".into(), max_per_minute: 6, page_id: None };
        assert_eq!(c.report, Some(expected));
        let c = parse(r#"{"report":{"url":"https://b/r?a=1","maxPerMinute":60,"pageId":"kiosk-1_A"}}"#).unwrap();
        assert_eq!(c.report.as_ref().map(|r| (r.max_per_minute, r.page_id.as_deref())), Some((60, Some("kiosk-1_A"))));
    }

    #[test]
    fn invalid_report_configs_name_the_field_and_never_show_a_secret() {
        let cases = [
            (r#"{"report":{}}"#, "report.url must be given, got nothing"),
            (r#"{"report":"/r"}"#, r#"report must be an object, got "/r""#),
            (r#"{"report":{"url":" "}}"#, r#"report.url must be a non-empty URL, got " ""#),
            (r#"{"report":{"url":5}}"#, "report.url must be a string, got 5"),
            (
                r#"{"report":{"url":"/r?a=1&X-Plex-Token=SECRET"}}"#,
                r#"report.url must not carry a secret in its query, got "/r?a=1&X-Plex-Token=REDACTED""#,
            ),
            (
                r#"{"secrets":["sig"],"report":{"url":"/r?SIG=SECRET"}}"#,
                r#"report.url must not carry a secret in its query, got "/r?SIG=REDACTED""#,
            ),
            (r#"{"report":{"url":"/r","maxPerMinute":0}}"#, "report.maxPerMinute must be between 1 and 60, got 0"),
            (r#"{"report":{"url":"/r","maxPerMinute":61}}"#, "report.maxPerMinute must be between 1 and 60, got 61"),
            (
                r#"{"report":{"url":"/r","pageId":""}}"#,
                r#"report.pageId must be 1 to 64 of A-Z, a-z, 0-9, - or _, got """#,
            ),
            (
                r#"{"report":{"url":"/r","pageId":"a b"}}"#,
                r#"report.pageId must be 1 to 64 of A-Z, a-z, 0-9, - or _, got "a b""#,
            ),
            (r#"{"report":{"url":"/r","beacon":true}}"#, "report.beacon must be a known field, got true"),
        ];
        for (json, message) in cases {
            let e = parse(json).unwrap_err();
            assert_eq!(e.to_string(), message, "{json}");
            assert!(!e.to_string().contains("SECRET"));
        }
        let long = format!(r#"{{"report":{{"url":"/r","pageId":"{}"}}}}"#, "a".repeat(65));
        assert_eq!(parse(&long).unwrap_err().field, "report.pageId");
        // A secret in the fragment or the path is not sent as a query parameter.
        assert!(parse(r#"{"report":{"url":"/r/X-Plex-Token#X-Plex-Token=1"}}"#).is_ok());
    }

    #[test]
    fn float_rules_print_floats_like_js() {
        let e = parse(r#"{"budget":{"ratio":1.5}}"#).unwrap_err();
        assert_eq!(e.to_string(), "budget.ratio must be between 0 and 1, got 1.5");
        let e = parse(r#"{"retry":{"factor":0.25}}"#).unwrap_err();
        assert_eq!(e.to_string(), "retry.factor must be between 1 and 10, got 0.25");
        let e = parse(r#"{"services":[{"name":"a","match":["/a"],"breaker":{"errorRateThreshold":0}}]}"#).unwrap_err();
        assert_eq!(e.to_string(), "services[0].breaker.errorRateThreshold must be greater than 0 and at most 1, got 0");
        let mut c = Config::default();
        c.budget.min_per_second = f64::INFINITY;
        assert_eq!(
            c.validate().unwrap_err().to_string(),
            "budget.minPerSecond must be between 0 and 100, got Infinity"
        );
    }

    #[test]
    fn names_parse_back() {
        for class in RequestClass::ALL {
            assert_eq!(RequestClass::parse(class.as_str()), Some(class));
        }
        assert_eq!(RequestClass::parse("Video"), None);
        assert_eq!(Jitter::parse("equal"), Some(Jitter::Equal));
        assert_eq!(Jitter::parse("none"), Some(Jitter::None));
        assert_eq!(ResumeAt::parse("session"), Some(ResumeAt::Session));
    }

    #[test]
    fn nan_and_cross_field_rules_are_enforced() {
        let mut c = Config::default();
        c.retry.factor = f64::NAN;
        assert_eq!(c.validate().unwrap_err().field, "retry.factor");
        let e = parse(r#"{"retry":{"initialDelayMs":5000,"maxDelayMs":1000}}"#).unwrap_err();
        assert_eq!(e.to_string(), "retry.maxDelayMs must be between 5000 and 600000, got 1000");
        let e = parse(r#"{"notices":{"messages":{"bogus":"x"}}}"#).unwrap_err();
        assert_eq!(e.field, "notices.messages.bogus");
        assert_eq!(e.rule, format!("be one of {}", NOTICE_KEYS.join(", ")));
    }
}
