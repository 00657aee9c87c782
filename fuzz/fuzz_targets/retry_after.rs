//! `Retry-After` parsing: any header value, at any wall clock and cap, gives a
//! delay within the cap or nothing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use player_resilience::engine::retry_after::parse_retry_after;
use player_resilience_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let (wall, cap) = (b.u64(), b.u64() % 10_000_000);
    let header = String::from_utf8_lossy(data.get(16..).unwrap_or_default());
    if let Some(delay) = parse_retry_after(&header, wall, cap) {
        assert!(delay <= cap, "{header:?} gave {delay} ms over the cap {cap}");
    }
});
