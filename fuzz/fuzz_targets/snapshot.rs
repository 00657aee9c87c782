//! The snapshot reader (persisted and cross-tab state): anything read is either
//! ignored or restored and adopted without harm.
#![no_main]
use libfuzzer_sys::fuzz_target;
use player_resilience::engine::config::Config;
use player_resilience::engine::resilience::{Engine, EngineSnapshot};
use player_resilience_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let value = bytes.value(5);
    if let Some(snapshot) = EngineSnapshot::from_value(&value) {
        let mut engine = Engine::new(Config::default(), 1, 0);
        let (now, wall) = (bytes.u64(), bytes.u64());
        let _ = engine.restore(&snapshot, now, wall);
        let _ = engine.adopt(&snapshot, now, wall);
        let _ = engine.snapshot(now, wall).to_value().to_json();
        let _ = engine.begin(now, "GET", "/api/v1/proxy/plex/stream/7");
    }
});
