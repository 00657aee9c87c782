//! Request and outcome classification.
//!
//! A URL picks its service (which breaker) and its class (which timeout) by the
//! configured substring patterns, first match wins. An attempt's outcome (status,
//! timeout, network error, client offline, caller abort) gets a [`Verdict`] for the
//! breaker and a retryability for the retry policy.

use super::config::{Config, RequestClass, RetryConfig};

/// How one attempt ended, as the browser layer saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The server answered with this status.
    Status(u16),
    /// No answer within the class timeout.
    Timeout,
    /// The connection failed (reset, refused, DNS) while the client was online.
    NetworkError,
    /// The client itself is offline: not the server's fault.
    Offline,
    /// The caller aborted: nobody's fault.
    Aborted,
    /// The server answered 503 with a `source-unreadable` body: it is up, but
    /// cannot read this file (see [`says_unreadable`]). Not the server's failure,
    /// and not retried: the caller decides how long to wait.
    Unreadable,
}

/// The body marker of the proxy's 503 for a file its storage cannot read.
const UNREADABLE_MARKER: &[u8] = b"source-unreadable";

/// Whether a 503's body (its first KiB is enough) is the proxy's
/// `source-unreadable` answer, as text or JSON (`{"error":"source-unreadable"}`).
pub fn says_unreadable(body: &str) -> bool {
    let head = body.as_bytes().get(..1024).unwrap_or(body.as_bytes());
    head.windows(UNREADABLE_MARKER.len()).any(|w| w == UNREADABLE_MARKER)
}

/// What an outcome says about the server's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The server answered sanely (2xx, 3xx, and 4xx other than 408 and 429).
    Healthy,
    /// The server failed: 5xx, 408, 429, a timeout or a network error.
    Unhealthy,
    /// Says nothing about the server (client offline, caller abort): not counted.
    NotCounted,
}

impl Outcome {
    /// The outcome's meaning for the breaker.
    pub fn verdict(self) -> Verdict {
        match self {
            Outcome::Status(408 | 429) => Verdict::Unhealthy,
            Outcome::Status(s) if s < 500 => Verdict::Healthy,
            Outcome::Unreadable => Verdict::Healthy,
            Outcome::Status(_) | Outcome::Timeout | Outcome::NetworkError => Verdict::Unhealthy,
            Outcome::Offline | Outcome::Aborted => Verdict::NotCounted,
        }
    }

    /// Whether the retry policy may try again after this outcome (methods, budget
    /// and deadline are checked elsewhere).
    pub fn is_retryable(self, retry: &RetryConfig) -> bool {
        match self {
            Outcome::Status(s) => retry.statuses.contains(&s),
            Outcome::Timeout => retry.retry_timeouts,
            Outcome::NetworkError => retry.retry_network_errors,
            Outcome::Offline | Outcome::Aborted | Outcome::Unreadable => false,
        }
    }

    /// The status, when the server answered.
    pub fn status(self) -> Option<u16> {
        match self {
            Outcome::Status(s) => Some(s),
            Outcome::Unreadable => Some(503),
            _ => None,
        }
    }
}

/// Where a request goes: its service (index into `config.services`) and class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Index of the service in the config.
    pub service: usize,
    /// The request class.
    pub class: RequestClass,
}

/// What a pattern selects: a service or a class rule (indices in the config).
#[derive(Debug, Clone, Copy)]
enum Target {
    Service(usize),
    Rule(usize),
}

/// One pattern, with its first 8 bytes as a number: most candidates are told
/// apart by one comparison of those, without comparing the bytes one by one.
#[derive(Debug, Clone)]
struct Pattern {
    bytes: String,
    head: u64,
    mask: u64,
    target: Target,
}

impl Pattern {
    fn new(bytes: &str, target: Target) -> Self {
        let mask = (!0u64).checked_shr(8 * 8u32.saturating_sub(bytes.len().min(8) as u32)).unwrap_or(0);
        Self { bytes: bytes.to_owned(), head: head(bytes.as_bytes()), mask, target }
    }

    /// Whether the pattern is at the start of `rest`, whose first 8 bytes are `rest_head`.
    fn starts(&self, rest: &[u8], rest_head: u64) -> bool {
        rest_head & self.mask == self.head
            && (self.bytes.len() <= 8 || rest.get(..self.bytes.len()) == Some(self.bytes.as_bytes()))
    }
}

/// The first 8 bytes of `bytes` (fewer: zeros after them), little-endian.
fn head(bytes: &[u8]) -> u64 {
    if let Some(&b) = bytes.first_chunk::<8>() {
        return u64::from_le_bytes(b);
    }
    let mut b = [0u8; 8];
    for (d, s) in b.iter_mut().zip(bytes) {
        *d = *s;
    }
    u64::from_le_bytes(b)
}

/// Patterns are found by a hash of their first two bytes: this many buckets.
const BUCKETS: usize = 64;

fn bucket(first: u8, second: u8) -> usize {
    (usize::from(first) * 33 + usize::from(second)) % BUCKETS
}

/// The config's services and class rules compiled for one pass over a URL: at
/// each byte that starts a pattern, only the patterns with the same first two
/// bytes are compared, by their first 8 bytes first. Same answers as testing each
/// rule's patterns in turn (first service and first rule in config order win), in
/// a fraction of the time.
#[derive(Debug, Clone)]
pub struct Router {
    patterns: Vec<Pattern>,
    /// Pattern indices by [`bucket`] (patterns of two bytes or more).
    buckets: Vec<Vec<usize>>,
    /// Pattern indices of one-byte patterns.
    single: Vec<usize>,
    /// Whether a pattern (two bytes or more) starts with this byte.
    firsts: [bool; 256],
    classes: Vec<RequestClass>,
}

impl Router {
    /// Compiles `config`'s services and class rules (validated: no empty pattern).
    pub fn new(config: &Config) -> Self {
        let services = config
            .services
            .iter()
            .enumerate()
            .flat_map(|(i, s)| s.matches.iter().map(move |p| (p, Target::Service(i))));
        let rules =
            config.classes.iter().enumerate().flat_map(|(i, r)| r.matches.iter().map(move |p| (p, Target::Rule(i))));
        let mut router = Self {
            patterns: Vec::new(),
            buckets: vec![Vec::new(); BUCKETS],
            single: Vec::new(),
            firsts: [false; 256],
            classes: config.classes.iter().map(|r| r.class).collect(),
        };
        for (pattern, target) in services.chain(rules) {
            let index = router.patterns.len();
            match *pattern.as_bytes() {
                [] => continue,
                [_] => router.single.push(index),
                [first, second, ..] => {
                    if let Some(starts) = router.firsts.get_mut(usize::from(first)) {
                        *starts = true;
                    }
                    if let Some(b) = router.buckets.get_mut(bucket(first, second)) {
                        b.push(index);
                    }
                }
            }
            router.patterns.push(Pattern::new(pattern, target));
        }
        router
    }

    /// The first service (index) and first class rule whose patterns `url` contains.
    fn first_matches(&self, url: &str) -> (Option<usize>, Option<usize>) {
        let url = url.as_bytes();
        let (mut service, mut rule) = (usize::MAX, usize::MAX);
        let mut hit = |target: Target| match target {
            Target::Service(i) => service = service.min(i),
            Target::Rule(i) => rule = rule.min(i),
        };
        for &index in &self.single {
            if let Some(p) = self.patterns.get(index) {
                if p.bytes.as_bytes().first().is_some_and(|b| url.contains(b)) {
                    hit(p.target);
                }
            }
        }
        let starts_a_pattern = |b: &u8| self.firsts.get(usize::from(*b)) == Some(&true);
        let mut from = 0;
        while let Some(at) = url.get(from..).and_then(|rest| rest.iter().position(starts_a_pattern)).map(|n| from + n) {
            from = at + 1;
            let rest = url.get(at..).unwrap_or_default();
            let &[first, second, ..] = rest else { break };
            let candidates = self.buckets.get(bucket(first, second)).map_or(&[][..], Vec::as_slice);
            if candidates.is_empty() {
                continue;
            }
            let rest_head = head(rest);
            for p in candidates.iter().filter_map(|&index| self.patterns.get(index)) {
                if p.starts(rest, rest_head) {
                    hit(p.target);
                }
            }
        }
        let found = |i: usize| (i != usize::MAX).then_some(i);
        (found(service), found(rule))
    }

    /// The class of a URL: the first matching rule's, else `metadata`.
    pub fn class_of(&self, url: &str) -> RequestClass {
        self.class(self.first_matches(url).1)
    }

    /// Service and class for a URL, or `None` when it passes through untouched.
    pub fn route(&self, url: &str) -> Option<Route> {
        let (service, rule) = self.first_matches(url);
        service.map(|service| Route { service, class: self.class(rule) })
    }

    fn class(&self, rule: Option<usize>) -> RequestClass {
        rule.and_then(|i| self.classes.get(i).copied()).unwrap_or(RequestClass::Metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::ClassRule;

    fn routed(url: &str) -> Option<(String, RequestClass)> {
        let c = Config::default();
        Router::new(&c).route(url).map(|r| (c.services[r.service].name.clone(), r.class))
    }

    #[test]
    fn reference_url_shapes_route_to_the_right_service_and_class() {
        let plex = |class| Some(("plex".to_string(), class));
        assert_eq!(routed("/api/v1/proxy/plex/stream/123"), plex(RequestClass::Video));
        assert_eq!(
            routed("http://127.0.0.1:8080/api/v1/proxy/plex/video/:/transcode/universal/start.mpd?path=x"),
            plex(RequestClass::Transcode)
        );
        assert_eq!(
            routed("/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/7/indexes/sd/12000"),
            plex(RequestClass::Thumbnail)
        );
        assert_eq!(routed("/api/v1/display/plex/55"), plex(RequestClass::Thumbnail));
        assert_eq!(routed("/api/v1/proxy/plex/identity"), plex(RequestClass::Probe));
        assert_eq!(routed("/api/v1/play/abc"), Some(("api".to_string(), RequestClass::Metadata)));
        assert_eq!(routed("https://cdn.example/other.js"), None);
    }

    #[test]
    fn streaming_shapes_get_their_classes() {
        let plex = |class| Some(("plex".to_string(), class));
        let base = "http://127.0.0.1:8080/s/x/api/v1/proxy/plex/video/:/transcode/universal";
        // The transcode starts (the MPD, the HLS master): transcode, with or without a token.
        assert_eq!(routed(&format!("{base}/start.mpd?path=/library/metadata/101")), plex(RequestClass::Transcode));
        assert_eq!(routed(&format!("{base}/start.m3u8?path=/library/metadata/101")), plex(RequestClass::Transcode));
        assert_eq!(routed(&format!("{base}/start?path=/x&X-Plex-Token=t")), plex(RequestClass::Transcode));
        // Manifests and playlists: light.
        assert_eq!(routed(&format!("{base}/session/abc/base/index.m3u8")), plex(RequestClass::Metadata));
        assert_eq!(routed(&format!("{base}/session/abc/base/index.m3u8?X-Plex-Token=t")), plex(RequestClass::Metadata));
        assert_eq!(routed(&format!("{base}/session/abc/manifest.mpd")), plex(RequestClass::Metadata));
        // Init and media segments: video.
        for segment in ["0/header", "0/init.mp4", "0/00001.m4s", "base/00000.ts", "base/init.mp4?X-Plex-Token=t"] {
            assert_eq!(routed(&format!("{base}/session/abc/{segment}")), plex(RequestClass::Video), "{segment}");
        }
        // Other transcode URLs stay transcode.
        assert_eq!(routed(&format!("{base}/decision?path=/x")), plex(RequestClass::Transcode));
        assert_eq!(
            routed("/api/v1/proxy/plex/video/:/transcode/universal/ping?session=abc"),
            plex(RequestClass::Transcode)
        );
    }

    /// The class rules before the streaming shapes (issue 10).
    fn old_classes() -> Vec<ClassRule> {
        vec![
            ClassRule { class: RequestClass::Probe, matches: vec!["/identity".into()] },
            ClassRule { class: RequestClass::Transcode, matches: vec!["/video/:/transcode/".into()] },
            ClassRule {
                class: RequestClass::Thumbnail,
                matches: vec!["/photo/:/transcode".into(), "/api/v1/display/".into()],
            },
            ClassRule { class: RequestClass::Video, matches: vec!["/proxy/plex/stream/".into()] },
        ]
    }

    #[test]
    fn every_earlier_default_keeps_its_class() {
        let old = Config { classes: old_classes(), ..Config::default() };
        let new = Config::default();
        for url in [
            "/api/v1/proxy/plex/stream/123",
            "/api/v1/proxy/plex/stream/123?range=0-1",
            "/api/v1/proxy/plex/photo/:/transcode?width=240&height=135&minSize=1&upscale=1&url=/library/parts/7/indexes/sd/12000",
            "/api/v1/display/plex/55",
            "/api/v1/proxy/plex/identity",
            "/api/v1/proxy/plex/identity?X-Plex-Token=t",
            "/api/v1/proxy/plex/video/:/transcode/universal/decision",
            "/api/v1/proxy/plex/video/:/transcode/universal/start.mpd?path=x",
            "/api/v1/proxy/plex/library/metadata/101",
            "/photo/:/transcode/video/:/transcode/",
            "/api/v1/play/abc",
            "/api/v1/play/abc.m3u8",
            "/other/index.mpd",
        ] {
            assert_eq!(Router::new(&new).class_of(url), Router::new(&old).class_of(url), "{url}");
        }
    }

    proptest::proptest! {
        /// Only streaming shapes change class: a URL with none of the new rules'
        /// patterns (`/transcode/universal/start`, `.mpd`, `.m3u8`,
        /// `/transcode/universal/session/`) is classed as before.
        #[test]
        fn only_streaming_shapes_change_class(parts in proptest::collection::vec(proptest::sample::select(vec![
            "/api/v1/", "proxy/plex/", "display/plex/", "/stream/", "/identity", "/video/:/transcode/",
            "/photo/:/transcode", "universal/", "/transcode/universal/", "start", "session/", ".mpd", ".m3u8",
            "?path=", "x", "/", "play/", ".mp", "m3u8",
        ]), 0..10)) {
            let url = parts.concat();
            let old = Config { classes: old_classes(), ..Config::default() };
            let new = Config::default();
            let streaming = ["/transcode/universal/start", ".mpd", ".m3u8", "/transcode/universal/session/"]
                .iter()
                .any(|p| url.contains(p));
            if !streaming {
                proptest::prop_assert_eq!(Router::new(&new).class_of(&url), Router::new(&old).class_of(&url), "{}", url);
            }
        }
    }

    #[test]
    fn outcomes_get_breaker_verdicts() {
        assert_eq!(Outcome::Status(200).verdict(), Verdict::Healthy);
        assert_eq!(Outcome::Status(206).verdict(), Verdict::Healthy);
        assert_eq!(Outcome::Status(404).verdict(), Verdict::Healthy);
        assert_eq!(Outcome::Status(401).verdict(), Verdict::Healthy);
        assert_eq!(Outcome::Status(429).verdict(), Verdict::Unhealthy);
        assert_eq!(Outcome::Status(408).verdict(), Verdict::Unhealthy);
        assert_eq!(Outcome::Status(500).verdict(), Verdict::Unhealthy);
        assert_eq!(Outcome::Status(504).verdict(), Verdict::Unhealthy);
        assert_eq!(Outcome::Timeout.verdict(), Verdict::Unhealthy);
        assert_eq!(Outcome::NetworkError.verdict(), Verdict::Unhealthy);
        assert_eq!(Outcome::Offline.verdict(), Verdict::NotCounted);
        assert_eq!(Outcome::Aborted.verdict(), Verdict::NotCounted);
    }

    #[test]
    fn retryable_outcomes_follow_the_config() {
        let r = RetryConfig::default();
        for s in [429, 502, 503, 504] {
            assert!(Outcome::Status(s).is_retryable(&r), "{s}");
        }
        for s in [200, 400, 401, 404, 500, 501] {
            assert!(!Outcome::Status(s).is_retryable(&r), "{s}");
        }
        assert!(Outcome::Timeout.is_retryable(&r));
        assert!(Outcome::NetworkError.is_retryable(&r));
        assert!(!Outcome::Offline.is_retryable(&r));
        assert!(!Outcome::Aborted.is_retryable(&r));
        let no_timeouts = RetryConfig { retry_timeouts: false, ..RetryConfig::default() };
        assert!(!Outcome::Timeout.is_retryable(&no_timeouts));
    }

    #[test]
    fn a_source_unreadable_503_is_an_answer_not_a_failure_and_not_retried() {
        assert!(says_unreadable(r#"{"error":"source-unreadable"}"#));
        assert!(says_unreadable("source-unreadable"));
        assert!(!says_unreadable("Service Unavailable"));
        assert!(!says_unreadable(&format!("{}source-unreadable", " ".repeat(1024))), "only the first KiB is read");
        assert_eq!(Outcome::Unreadable.verdict(), Verdict::Healthy);
        assert!(!Outcome::Unreadable.is_retryable(&RetryConfig::default()));
        assert_eq!(Outcome::Unreadable.status(), Some(503));
    }

    proptest::proptest! {
        /// The router finds what testing each service's and each rule's patterns
        /// with `str::contains`, in config order, finds.
        #[test]
        fn routing_is_the_first_service_and_rule_containing_the_url(
            url in "[a/é:.]{0,24}",
            services in proptest::collection::vec(proptest::collection::vec("[a/é:.]{1,4}", 1..4), 1..4),
            rules in proptest::collection::vec(proptest::collection::vec("[a/é:.]{1,4}", 1..4), 0..6),
        ) {
            let classes = [RequestClass::Video, RequestClass::Thumbnail, RequestClass::Probe];
            let config = Config {
                services: services.iter().enumerate().map(|(i, m)| crate::engine::config::ServiceConfig {
                    name: format!("s{i}"),
                    matches: m.clone(),
                    ..Config::default().services[1].clone()
                }).collect(),
                classes: rules.iter().enumerate().map(|(i, m)| ClassRule { class: classes[i % 3], matches: m.clone() }).collect(),
                ..Config::default()
            };
            let contains = |m: &[String]| m.iter().any(|p| url.contains(p.as_str()));
            let class = config.classes.iter().find(|r| contains(&r.matches)).map_or(RequestClass::Metadata, |r| r.class);
            let expected = config.services.iter().position(|s| contains(&s.matches)).map(|service| Route { service, class });
            let router = Router::new(&config);
            proptest::prop_assert_eq!(router.route(&url), expected);
            proptest::prop_assert_eq!(router.class_of(&url), class);
        }
    }
}
