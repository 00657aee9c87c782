//! The playback session model driven by any sequence of element samples and
//! events, with any numbers the element may report (NaN, infinities, a clock
//! going backwards): it never panics.
#![no_main]
use libfuzzer_sys::fuzz_target;
use player_resilience::engine::config::PlaybackConfig;
use player_resilience::engine::playback::{Playback, VideoSample};
use player_resilience_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let mut p = Playback::new(&PlaybackConfig::default());
    let mut now: u64 = 0;
    while !b.is_empty() {
        now = now.saturating_add_signed(b.step());
        let _ = match b.byte() % 14 {
            0..=4 => {
                let flags = b.byte();
                p.sample(
                    now,
                    VideoSample {
                        current_time_s: b.number(),
                        paused: flags & 1 != 0,
                        ended: flags & 2 != 0,
                        seeking: flags & 4 != 0,
                        duration_s: b.number(),
                        hidden: flags & 8 != 0,
                        buffered_end_s: b.number(),
                    },
                )
            }
            5 => p.on_network_error(now),
            6 => p.on_breaker_open(now),
            7 => p.on_breaker_closed(now, b.number()),
            8 => p.on_playing(now),
            9 => p.on_loaded(now),
            10 => p.on_play_refused().or_else(|| p.on_gesture(b.number())),
            11 => p.on_source_unreadable(now).or_else(|| p.on_segment_gone(now)),
            12 => {
                p.on_data(now);
                p.expect_playing(b.flag());
                None
            }
            _ => {
                let _ = (p.may_prefetch(), p.duration_ms(), p.retry_delay_ms(), p.thumbnail_offset_ms(b.number()));
                None
            }
        };
    }
});
