//! Secret redaction: query parameters named as secrets (`X-Plex-Token` by default)
//! lose their values before a URL is reported anywhere (events, errors, metrics,
//! logs, storage).

/// What a secret's value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// `url` with the value of every query parameter named in `secrets` (compared
/// case-insensitively) replaced by [`REDACTED`]. The fragment is dropped: it is
/// never needed in a report and may carry anything.
pub fn redact_url(url: &str, secrets: &[String]) -> String {
    // Scanned byte by byte: every separator is ASCII, so each cut is a char boundary.
    let url = url.get(..stop(url, b"#")).unwrap_or_default();
    let at = stop(url, b"?");
    let (Some(base), Some(mut rest)) = (url.get(..at), url.get(at.saturating_add(1)..)) else {
        return url.to_owned();
    };
    let mut out = String::with_capacity(url.len());
    out.push_str(base);
    out.push('?');
    // `?` and `;` separate pairs too for some servers: treat them as separators so
    // a secret can't hide behind them.
    while !rest.is_empty() {
        let end = stop(rest, b"&?;");
        let body = rest.get(..end).unwrap_or_default();
        let name = body.get(..stop(body, b"=")).unwrap_or_default();
        if is_secret(name, secrets) {
            out.push_str(name);
            out.push('=');
            out.push_str(REDACTED);
        } else {
            out.push_str(body);
        }
        out.push_str(rest.get(end..end.saturating_add(1)).unwrap_or_default());
        rest = rest.get(end.saturating_add(1)..).unwrap_or_default();
    }
    out
}

/// The index of the first byte of `s` in `stops`, else `s.len()`.
fn stop(s: &str, stops: &[u8]) -> usize {
    s.bytes().position(|b| stops.contains(&b)).unwrap_or(s.len())
}

/// Whether a parameter or header name is a secret. Percent-encoded names are
/// decoded first, so `X%2DPlex%2DToken` is caught too; a name that decodes to
/// invalid UTF-8 is not a secret.
pub fn is_secret(name: &str, secrets: &[String]) -> bool {
    let decoded = percent_decode(name);
    let Ok(decoded) = std::str::from_utf8(&decoded) else { return false };
    secrets.iter().any(|s| s.eq_ignore_ascii_case(decoded.trim()))
}

/// Decodes `%XX` escapes and `+`; malformed escapes are kept as they are.
fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secrets() -> Vec<String> {
        vec!["X-Plex-Token".to_string()]
    }

    #[test]
    fn token_values_are_redacted_whatever_their_case_or_encoding() {
        assert_eq!(
            redact_url("/api/v1/proxy/plex/stream/1?X-Plex-Token=abc123&offset=5", &secrets()),
            "/api/v1/proxy/plex/stream/1?X-Plex-Token=REDACTED&offset=5"
        );
        assert_eq!(redact_url("/a?x-plex-token=abc", &secrets()), "/a?x-plex-token=REDACTED");
        assert_eq!(redact_url("/a?X%2DPlex%2DToken=abc", &secrets()), "/a?X%2DPlex%2DToken=REDACTED");
        assert_eq!(redact_url("/a?b=1&X-Plex-Token", &secrets()), "/a?b=1&X-Plex-Token=REDACTED");
        assert_eq!(redact_url("/a?b=?X-Plex-Token=abc;c=1", &secrets()), "/a?b=?X-Plex-Token=REDACTED;c=1");
    }

    #[test]
    fn urls_without_secrets_are_unchanged_but_lose_their_fragment() {
        assert_eq!(redact_url("/api/v1/play/7", &secrets()), "/api/v1/play/7");
        assert_eq!(redact_url("/a?b=1&c=2", &secrets()), "/a?b=1&c=2");
        assert_eq!(redact_url("/a?b=1#X-Plex-Token=abc", &secrets()), "/a?b=1");
    }

    #[test]
    fn header_names_are_recognised() {
        assert!(is_secret("x-plex-token", &secrets()));
        assert!(!is_secret("Range", &secrets()));
    }

    proptest! {
        #[test]
        fn a_token_never_survives_redaction(prefix in "[a-z/?&=]{0,20}", token in "[A-Za-z0-9]{8,20}", suffix in "[a-z&=]{0,20}") {
            let url = format!("/x{prefix}?X-Plex-Token={token}&{suffix}");
            prop_assert!(!redact_url(&url, &secrets()).contains(&token));
        }

        #[test]
        fn arbitrary_input_never_panics(url in ".*") {
            let _ = redact_url(&url, &secrets());
        }
    }
}
