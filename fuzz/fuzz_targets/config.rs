//! The config reader: any value tree is a config or a clear error; a config it
//! accepts starts an engine that takes a request.
#![no_main]
use libfuzzer_sys::fuzz_target;
use player_resilience::engine::config::Config;
use player_resilience::engine::resilience::Engine;
use player_resilience_fuzz::Bytes;

fuzz_target!(|data: &[u8]| {
    let mut bytes = Bytes::new(data);
    let value = bytes.value(4);
    if let Ok(config) = Config::from_value(&value) {
        let mut engine = Engine::new(config, bytes.u64(), bytes.u64());
        let url = bytes.word();
        let _ = engine.begin(bytes.u64(), "GET", &url);
        let _ = engine.poll_timeout();
    }
});
