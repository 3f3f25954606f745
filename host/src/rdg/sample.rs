//! `s2i-host rdg sample`: spoken captions in, pictures out, through the same front end as the
//! board, the SEN's speech encoder and the EMA generator.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use s2i_shared::frontend::Frontend;
use tch::{Device, Tensor};

use crate::report::{GridRow, ImageGrid};
use crate::sen::load::{load_sen, LoadedSen};
use crate::train::{resolve_device, DeviceChoice};

use super::grid::{gaussian, to_rgb_images};
use super::load::{BnStatistics, LoadedGenerator};

#[derive(Debug, Clone, clap::Args)]
pub struct SampleArgs {
    /// RDG run folder (its generator.safetensors) or generator file.
    #[arg(long)]
    pub rdg: PathBuf,
    /// Spoken captions (wav).
    #[arg(long, required = true, num_args = 1..)]
    pub wav: Vec<PathBuf>,
    /// The SEN run or checkpoint (default: the one the generator was trained with).
    #[arg(long)]
    pub sen: Option<PathBuf>,
    /// Output folder for the PNGs.
    #[arg(long, default_value = "samples")]
    pub out: PathBuf,
    /// Seed of the noise z; the same seed and caption give the same picture.
    #[arg(long, default_value_t = 100)]
    pub seed: u64,
    /// Also write a sheet with every stage's image for each caption.
    #[arg(long)]
    pub all_stages: bool,
    /// BN statistics: `running` (training's averages, the default) or `batch`.
    #[arg(long, value_enum, default_value_t = BnStatistics::Running)]
    pub bn: BnStatistics,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub inception_weights: Option<PathBuf>,
}

/// The SEN a generator was trained with, checked by checksum.
pub fn matching_sen(
    generator: &LoadedGenerator,
    sen: Option<&Path>,
    device: Device,
    inception_weights: Option<&Path>,
) -> Result<LoadedSen> {
    let path = match (sen, generator.sen_path()) {
        (Some(p), _) => p.to_path_buf(),
        (None, Some(p)) => p,
        (None, None) => bail!(
            "{}: the generator does not record its SEN; pass --sen",
            generator.path.display()
        ),
    };
    let loaded = load_sen(&path, device, inception_weights)
        .with_context(|| format!("cannot open the SEN for {}", generator.path.display()))?;
    if Some(loaded.sha256.as_str()) != generator.sen_sha256() {
        bail!(
            "{}: this generator was trained on embeddings of another SEN checkpoint than {}",
            generator.path.display(),
            loaded.path.display()
        );
    }
    Ok(loaded)
}

/// One embedding per wav: `[N, D]`.
pub fn embed_wavs(sen: &LoadedSen, wavs: &[PathBuf], device: Device) -> Result<Tensor> {
    let frontend = Frontend::default();
    if let Some(trained) = sen.header["dataset"]["table_hash"].as_str() {
        if trained != frontend.table_hash() {
            bail!(
                "{}: the SEN was trained on features of front-end table {trained}, this build \
                 computes {}",
                sen.path.display(),
                frontend.table_hash()
            );
        }
    }
    let min = sen.sen.config.speech.min_frames() as usize;
    let mut rows = Vec::with_capacity(wavs.len());
    for wav in wavs {
        let f = frontend
            .features_from_wav_file(wav)
            .with_context(|| format!("{}: cannot compute features", wav.display()))?;
        if f.frames < min {
            bail!(
                "{}: {} frames of speech ({} ms); a caption needs at least {min} frames",
                wav.display(),
                f.frames,
                f.frames * 10
            );
        }
        let x = Tensor::from_slice(&f.data)
            .view([1, f.n_mels as i64, f.frames as i64])
            .to_device(device);
        rows.push(tch::no_grad(|| {
            sen.sen.speech.forward_t(&x, &[f.frames as i64], false)
        }));
    }
    Ok(Tensor::cat(&rows, 0))
}

pub fn run(args: &SampleArgs) -> Result<Vec<PathBuf>> {
    let device = resolve_device(args.device, args.threads)?;
    if args.bn == BnStatistics::Recalibrated {
        bail!(
            "--bn recalibrated needs the training captions: `s2i-host rdg eval --bn recalibrated` \
             or an exported bundle (`s2i-host export`) show what it draws"
        );
    }
    let generator = LoadedGenerator::load(&args.rdg, device)?;
    let sen = matching_sen(
        &generator,
        args.sen.as_deref(),
        device,
        args.inception_weights.as_deref(),
    )?;
    let embeddings = embed_wavs(&sen, &args.wav, device)?;
    let n = args.wav.len();
    let z_dim = generator.config.z_dim;
    let z = Tensor::from_slice(&gaussian(n * z_dim as usize, args.seed))
        .view([n as i64, z_dim])
        .to_device(device);
    let stages = generator.generate_with(&embeddings, &z, args.bn);
    let per_stage = stages
        .iter()
        .map(to_rgb_images)
        .collect::<Result<Vec<_>>>()?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut written = Vec::new();
    for (i, wav) in args.wav.iter().enumerate() {
        let stem = wav
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| format!("caption{i}"));
        let path = args.out.join(format!("{stem}.png"));
        per_stage.last().unwrap()[i]
            .save(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!("{} → {}", wav.display(), path.display());
        written.push(path);
    }
    if args.all_stages {
        let sizes = generator.config.image_sizes();
        let path = args.out.join("stages.png");
        ImageGrid {
            title: format!("{} (seed {})", generator.path.display(), args.seed),
            column_titles: sizes.iter().map(|s| format!("{s}x{s}")).collect(),
            rows: args
                .wav
                .iter()
                .enumerate()
                .map(|(i, wav)| GridRow {
                    label: wav
                        .file_name()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    images: per_stage.iter().map(|s| s[i].clone()).collect(),
                })
                .collect(),
            cell: *sizes.last().unwrap() as u32,
            label_chars: 24,
        }
        .write_png(&path)?;
        println!("all stages → {}", path.display());
        written.push(path);
    }
    Ok(written)
}
