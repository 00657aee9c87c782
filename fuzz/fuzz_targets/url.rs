//! URL classification and secret redaction: any URL is routed or passed through;
//! after redaction every `X-Plex-Token` parameter's value is `REDACTED`, and
//! redacting again changes nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use player_resilience::engine::classify::Router;
use player_resilience::engine::config::Config;
use player_resilience::engine::redact::redact_url;

fuzz_target!(|data: &[u8]| {
    let url = String::from_utf8_lossy(data);
    let _ = Router::new(&Config::default()).route(&url);
    let secrets = ["X-Plex-Token".to_owned()];
    let redacted = redact_url(&url, &secrets);
    let query = redacted.split_once('?').map_or("", |(_, q)| q);
    for (at, name) in query.match_indices("X-Plex-Token=") {
        let starts_pair = at == 0 || matches!(query.as_bytes()[at - 1], b'&' | b'?' | b';');
        let value = &query[at + name.len()..];
        assert!(!starts_pair || value.starts_with("REDACTED"), "a token survived: {url:?} -> {redacted:?}");
    }
    assert_eq!(redact_url(&redacted, &secrets), redacted, "redaction is not stable");
});
