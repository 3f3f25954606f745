//! `s2i-host doctor` and `s2i-host features`: what this build trains with (libtorch, CUDA, the
//! front end), and the features it computes, as tensors, from the same code as the board.

use std::path::PathBuf;

use anyhow::{Context, Result};
use s2i_shared::frontend::{Features, Frontend};
use tch::{Device, Kind, Tensor};

/// Features as a `[n_mels, T]` f32 tensor holding exactly the front end's values.
pub fn features_tensor(features: &Features) -> Tensor {
    Tensor::from_slice(&features.data).reshape([features.n_mels as i64, features.frames as i64])
}

/// The device training runs on: the first CUDA GPU when there is one, else the CPU.
pub fn default_device() -> Device {
    Device::cuda_if_available()
}

pub fn run() -> Result<()> {
    let frontend = Frontend::default();
    println!("s2i-host {}", env!("CARGO_PKG_VERSION"));
    println!(
        "libtorch: CUDA {}",
        if tch::Cuda::is_available() {
            "available"
        } else {
            "not available"
        }
    );
    if tch::Cuda::is_available() {
        println!(
            "  GPUs: {}, cuDNN: {}",
            tch::Cuda::device_count(),
            tch::Cuda::cudnn_is_available()
        );
    }
    println!("  CPU threads: {}", tch::get_num_threads());
    println!("  training device: {:?}", default_device());
    let c = frontend.config();
    println!(
        "front end: {} Hz, {} ms window, {} ms hop, {} Slaney mel bands {}-{} Hz, CMVN {}",
        c.sample_rate,
        c.win_length * 1000 / c.sample_rate as usize,
        c.hop_length * 1000 / c.sample_rate as usize,
        c.n_mels,
        c.f_min_hz,
        c.f_max_hz,
        if c.cmvn { "on" } else { "off" }
    );
    println!("  table hash: {}", frontend.table_hash());
    // A real libtorch computation, so a broken install shows here rather than mid-training.
    let x = Tensor::ones([2, 2], (Kind::Float, default_device()));
    let sum = x.matmul(&x).sum(Kind::Float).double_value(&[]);
    anyhow::ensure!(
        sum == 8.0,
        "libtorch computed {sum} for a 2x2 matmul check, expected 8"
    );
    println!("libtorch self-check: ok");
    Ok(())
}

#[derive(clap::Args)]
pub struct FeaturesArgs {
    /// Wav files (8-48 kHz, PCM or float, mono or multi-channel).
    #[arg(required = true)]
    pub wavs: Vec<PathBuf>,
    /// Write each file's features as `<stem>.npy` ([n_mels, T] f32) into this folder.
    #[arg(long)]
    pub npy_dir: Option<PathBuf>,
}

pub fn features(args: &FeaturesArgs) -> Result<()> {
    let frontend = Frontend::default();
    if let Some(dir) = &args.npy_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    for wav in &args.wavs {
        let f = frontend.features_from_wav_file(wav)?;
        println!(
            "{}: {} bands x {} frames",
            wav.display(),
            f.n_mels,
            f.frames
        );
        if let Some(dir) = &args.npy_dir {
            let stem = wav.file_stem().unwrap_or_default().to_string_lossy();
            let out = dir.join(format!("{stem}.npy"));
            features_tensor(&f)
                .write_npy(&out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("  wrote {}", out.display());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn golden_wav() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/data/wav/red_crown_22k_s16.wav")
    }

    #[test]
    fn tensors_hold_the_front_ends_exact_bits() {
        let f = Frontend::default()
            .features_from_wav_file(&golden_wav())
            .unwrap();
        let t = features_tensor(&f);
        assert_eq!(t.size(), vec![40, f.frames as i64]);
        let back: Vec<f32> = Vec::try_from(t.flatten(0, -1)).unwrap();
        assert!(back
            .iter()
            .zip(&f.data)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
        // CMVN: every band has zero mean and unit variance over time.
        let mean = t
            .mean_dim(1, false, Kind::Float)
            .abs()
            .max()
            .double_value(&[]);
        let var = t.var_dim(1, false, false);
        assert!(mean < 1e-3, "{mean}");
        assert!((var - 1.0).abs().max().double_value(&[]) < 1e-2);
    }

    #[test]
    fn npy_files_round_trip_through_libtorch() {
        let dir = tempfile::tempdir().unwrap();
        features(&FeaturesArgs {
            wavs: vec![golden_wav()],
            npy_dir: Some(dir.path().to_path_buf()),
        })
        .unwrap();
        let t = Tensor::read_npy(dir.path().join("red_crown_22k_s16.npy")).unwrap();
        let f = Frontend::default()
            .features_from_wav_file(&golden_wav())
            .unwrap();
        assert!(t.equal(&features_tensor(&f)));
    }

    #[test]
    fn a_bad_wav_is_reported_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("broken.wav");
        std::fs::write(&bad, b"RIFF....nope").unwrap();
        let err = features(&FeaturesArgs {
            wavs: vec![bad.clone()],
            npy_dir: None,
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with(&bad.display().to_string()),
            "{err}"
        );
    }
}
