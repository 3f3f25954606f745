//! No input bytes make the front end panic: random bytes, and random bodies behind plausible
//! headers, either give features or a clear error. (`shared/fuzz` runs the same property under
//! libFuzzer for longer.)

use proptest::prelude::*;
use s2i_shared::frontend::Frontend;

fn header(format_tag: u16, channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let mut h = b"RIFF".to_vec();
    h.extend_from_slice(&(36u32.wrapping_add(data_len)).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&format_tag.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(
        &rate
            .wrapping_mul(channels as u32 * bits as u32 / 8)
            .to_le_bytes(),
    );
    h.extend_from_slice(&(channels.wrapping_mul(bits / 8)).to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = Frontend::default().features_from_wav_bytes(&bytes, "random");
    }

    #[test]
    fn random_bodies_behind_plausible_headers_never_panic(
        format_tag in prop_oneof![Just(1u16), Just(3), Just(6), any::<u16>()],
        channels in 0u16..9,
        rate in prop_oneof![Just(8_000u32), Just(16_000), Just(22_050), Just(44_100), Just(48_000), any::<u32>()],
        bits in prop_oneof![Just(8u16), Just(16), Just(24), Just(32), any::<u16>()],
        declared in prop_oneof![0u32..20_000, any::<u32>()],
        body in proptest::collection::vec(any::<u8>(), 0..20_000),
    ) {
        let mut bytes = header(format_tag, channels, rate, bits, declared);
        bytes.extend(body);
        let frontend = Frontend::default();
        if let Ok(f) = frontend.features_from_wav_bytes(&bytes, "random") {
            prop_assert_eq!(f.data.len(), f.n_mels * f.frames);
            prop_assert!(f.data.iter().all(|v| v.is_finite()));
        }
    }
}
