//! One WebSocket text frame as the test client and load generator
//! (`crates/parley-client`) decode it: Engine.IO packet, then Socket.IO
//! packet and its JSON. No frame may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(frame) = std::str::from_utf8(data) {
        let _ = parley_fuzz::packet::decode(frame);
    }
});
