//! wav bytes → features must never panic: every input gives features or a clear error.
//! Run with `cargo +nightly fuzz run wav_features` from `shared/`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use s2i_shared::frontend::Frontend;

static FRONTEND: OnceLock<Frontend> = OnceLock::new();

fuzz_target!(|bytes: &[u8]| {
    let frontend = FRONTEND.get_or_init(Frontend::default);
    if let Ok(features) = frontend.features_from_wav_bytes(bytes, "fuzz") {
        assert_eq!(features.data.len(), features.n_mels * features.frames);
        assert!(features.data.iter().all(|v| v.is_finite()));
    }
});
