use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use s2i_device::app::{self, Config};
use s2i_device::display::{check_sheet, contact_sheet, label_from_file_name, Cell};
use s2i_device::infer::{LoadedBundle, Pipeline, StageImage};
use s2i_device::picture_file::PictureFile;
use s2i_shared::bundle::Precision;
use s2i_shared::frontend::Frontend;

/// s2i: speech in, picture out, on the board.
#[derive(Parser)]
#[command(name = "s2i", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Verify a model bundle: manifest, front end, file hashes, that tract loads every model
    /// with the shapes the manifest lists, the hyper-parameters, and a dry run of each precision.
    Check {
        #[arg(long, default_value = "models/default")]
        bundle: PathBuf,
    },
    /// Draw the picture for a spoken description: wav → front end → speech encoder → generator
    /// stages → PNG (the last stage's picture, or --stage K's).
    Generate {
        #[arg(long, default_value = "models/default")]
        bundle: PathBuf,
        #[arg(long)]
        wav: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Noise seed: the same wav and seed always give the same picture.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Stop after this generator stage (1 = 64², the quickest preview).
        #[arg(long)]
        stage: Option<usize>,
        /// The bundle's f32 networks, or its int8 ones (bundles exported with --int8).
        #[arg(long, default_value = "f32", value_parser = parse_precision)]
        precision: Precision,
    },
    /// A labelled contact sheet: one picture per wav (labelled with its file name), `--columns`
    /// wide. With the default bundle's nine samples in body × wing order it is the "subtle
    /// differences" figure.
    Grid {
        #[arg(long, default_value = "models/default")]
        bundle: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 3)]
        columns: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Side of each cell in the sheet (pictures are scaled with a Catmull-Rom filter).
        #[arg(long, default_value_t = 192)]
        cell: u32,
        /// The bundle's f32 networks, or its int8 ones.
        #[arg(long, default_value = "f32", value_parser = parse_precision)]
        precision: Precision,
        #[arg(required = true)]
        wavs: Vec<PathBuf>,
    },
    /// Time the front end, the speech encoder, each generator stage and the whole pipeline
    /// (medians over repeated runs), and report peak memory.
    Bench {
        #[arg(long, default_value = "models/default")]
        bundle: PathBuf,
        /// Utterance to time (default: the bundle's first sample).
        #[arg(long)]
        wav: Option<PathBuf>,
        #[arg(long, default_value_t = 20)]
        runs: usize,
        #[arg(long, default_value_t = 3)]
        warmup: usize,
    },
    /// Print the front end's features for wav files (the same bits the trainer computes).
    Features {
        #[arg(required = true)]
        wavs: Vec<PathBuf>,
    },
    /// Run the board in the mode its configuration file names (handheld or kiosk; see
    /// deploy/handheld.toml and deploy/kiosk.toml). Logs go to stderr (RUST_LOG=debug for more).
    Run {
        #[arg(long)]
        config: PathBuf,
        /// Only check the configuration, the bundle it names (with a dry run) and open the
        /// devices it names without driving them, then exit.
        #[arg(long)]
        check: bool,
    },
    /// List what a configuration can use here: audio inputs, framebuffers, SPI devices, GPIO
    /// chips.
    Devices,
}

/// Our SIMD kernels on this CPU against their definition, and which ones the plans use: each
/// instruction-set path can only be tested on a CPU that has it, so a board checks its own.
fn check_kernels() -> Result<()> {
    use s2i_kernels::plan::{DIRECT_CONV_ENV, INTEGER_CONV_ENV, RECURRENT_GRU_ENV};
    let options = s2i_kernels::PlanOptions::from_env()?;
    let paths = s2i_kernels::self_check::check_all_paths().map_err(anyhow::Error::msg)?;
    let integer_paths =
        s2i_kernels::self_check::check_integer_paths().map_err(anyhow::Error::msg)?;
    let used = |isa: Option<s2i_kernels::Isa>, ours: &str, theirs: &str, variable: &str| match isa {
        Some(isa) => format!("{ours} on {}", isa.name()),
        None if paths.is_empty() => format!("{theirs} (no path of ours for this CPU)"),
        None => format!("{theirs} ({variable}=off)"),
    };
    let integer = match options.integer_conv {
        Some(isa) => format!("int8 direct convolution on {}", isa.name()),
        None if integer_paths.is_empty() => {
            "tract's own int8 convolutions (no path of ours for this CPU)".to_string()
        }
        None => format!("tract's own int8 convolutions ({INTEGER_CONV_ENV}=off)"),
    };
    println!(
        "kernels: {}; {}; {integer}",
        used(
            options.direct_conv,
            "direct convolution",
            "tract's own convolutions",
            DIRECT_CONV_ENV
        ),
        used(
            options.recurrent_gru,
            "recurrent product",
            "tract's own GRU",
            RECURRENT_GRU_ENV
        )
    );
    for path in &paths {
        println!(
            "  {}: {} convolution layers, {} GRUs and {} int8-weight dense layers, worst \
             relative error {:.1e}: {}",
            path.isa.name(),
            path.layers,
            path.grus,
            path.dense,
            path.worst,
            if path.passed() {
                "matches the definition"
            } else {
                "WRONG"
            }
        );
    }
    for path in &integer_paths {
        println!(
            "  {}: {} int8 convolution layers, {}",
            path.isa.name(),
            path.layers,
            if path.passed() {
                "exactly the definition".to_string()
            } else {
                format!("{} WRONG", path.wrong)
            }
        );
    }
    if let Some(bad) = integer_paths
        .iter()
        .find(|p| !p.passed() && options.integer_conv == Some(p.isa))
    {
        bail!(
            "the {} int8 convolution does not match its definition on this CPU ({} of {} layers \
             differ): run with {INTEGER_CONV_ENV}=off and report it",
            bad.isa.name(),
            bad.wrong,
            bad.layers
        );
    }
    if let Some(bad) = paths.iter().find(|p| {
        !p.passed() && (options.direct_conv == Some(p.isa) || options.recurrent_gru == Some(p.isa))
    }) {
        bail!(
            "the {} kernels do not match their definition on this CPU (relative error {:.1e} > \
             {:.0e}): run with {DIRECT_CONV_ENV}=off {RECURRENT_GRU_ENV}=off and report it",
            bad.isa.name(),
            bad.worst,
            s2i_kernels::self_check::TOLERANCE,
        );
    }
    Ok(())
}

/// Every failure is one line on stderr (the causes joined by ": "), so a journal holds one line
/// per failure; with RUST_LOG=debug (or trace) each cause gets its own line and a backtrace is
/// shown when one was captured (RUST_BACKTRACE=1).
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let verbose =
                std::env::var("RUST_LOG").is_ok_and(|v| v.contains("debug") || v.contains("trace"));
            if verbose {
                eprintln!("error: {e:?}");
            } else {
                eprintln!("error: {}", one_line(&e));
            }
            ExitCode::FAILURE
        }
    }
}

/// The causes joined by ": ", leaving out a cause its parent's message already ends with (an
/// I/O error both quoted and kept as the source), each on one line.
fn one_line(e: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text
            .split('\n')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        if line.ends_with(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

fn run() -> Result<()> {
    let frontend = Frontend::default();
    match Cli::parse().command {
        Command::Check { bundle } => {
            let unusable = || format!("bundle {} is not usable", bundle.display());
            let loaded = LoadedBundle::open(&bundle, &frontend).with_context(unusable)?;
            let m = &loaded.manifest;
            println!(
                "{}: bundle {} (preset {}), {} models verified, {} generator stage(s), front end {}",
                bundle.display(),
                m.bundle_id,
                m.preset,
                loaded.models.len(),
                m.generator_stages(),
                &m.frontend.table_hash[..12]
            );
            for precision in [Precision::F32, Precision::Int8] {
                if !m.files.iter().any(|f| f.precision == precision) {
                    continue;
                }
                let pipeline =
                    Pipeline::from_bundle(&loaded, &frontend, precision).with_context(unusable)?;
                let dry = pipeline.dry_run().with_context(unusable)?;
                println!(
                    "  {}: hyper-parameters and shapes fit the models; a dry run of {} frames drew {}",
                    precision.name(),
                    dry.frames,
                    dry.sides
                        .iter()
                        .map(|s| format!("{s}²"))
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            check_kernels()?;
        }
        Command::Generate {
            bundle,
            wav,
            out,
            seed,
            stage,
            precision,
        } => {
            // The cheap refusals first: a bad --out or wav never waits for the bundle.
            let picture = PictureFile::new(&out)?;
            let start = std::time::Instant::now();
            let features = frontend.features_from_wav_file(&wav)?;
            let loading = std::time::Instant::now();
            let pipeline = Pipeline::load_precision(&bundle, &frontend, precision)
                .with_context(|| format!("bundle {} is not usable", bundle.display()))?;
            let loaded = loading.elapsed();
            let images =
                pipeline.generate(&features, &wav.display().to_string(), seed, stage, |img| {
                    println!(
                        "stage {}: {}×{} in {:.0} ms",
                        img.stage,
                        img.side,
                        img.side,
                        img.elapsed.as_secs_f64() * 1e3
                    )
                })?;
            let last = images.last().expect("at least one stage ran");
            picture.write(&to_image(last)?)?;
            println!(
                "wrote {} ({}×{}, seed {seed}; bundle {} loaded in {:.0} ms, {:.0} ms in all)",
                out.display(),
                last.side,
                last.side,
                pipeline.manifest.bundle_id,
                loaded.as_secs_f64() * 1e3,
                start.elapsed().as_secs_f64() * 1e3
            );
        }
        Command::Grid {
            bundle,
            out,
            columns,
            seed,
            cell,
            wavs,
            precision,
        } => {
            check_sheet(wavs.len(), columns, cell).map_err(anyhow::Error::msg)?;
            let picture = PictureFile::new(&out)?;
            let pipeline = Pipeline::load_precision(&bundle, &frontend, precision)
                .with_context(|| format!("bundle {} is not usable", bundle.display()))?;
            let mut cells = Vec::with_capacity(wavs.len());
            for wav in &wavs {
                let features = frontend.features_from_wav_file(wav)?;
                let images =
                    pipeline.generate(&features, &wav.display().to_string(), seed, None, |_| {})?;
                let last = images.last().expect("at least one stage ran");
                cells.push(Cell {
                    picture: to_image(last)?,
                    label: label_from_file_name(wav),
                });
            }
            let title = format!(
                "{}: what was said, drawn (seed {seed})",
                pipeline.manifest.bundle_id
            );
            let sheet = contact_sheet(&cells, columns, cell, &title);
            picture.write(&sheet)?;
            println!("wrote {} ({} pictures)", out.display(), cells.len());
        }
        Command::Bench {
            bundle,
            wav,
            runs,
            warmup,
        } => {
            let mut pipelines = vec![Pipeline::load(&bundle, &frontend)
                .with_context(|| format!("bundle {} is not usable", bundle.display()))?];
            if pipelines[0].manifest.has_int8() {
                pipelines.push(Pipeline::load_precision(
                    &bundle,
                    &frontend,
                    Precision::Int8,
                )?);
            }
            let wav = match wav {
                Some(w) => w,
                None => first_sample(&bundle)?,
            };
            let reports =
                s2i_device::bench::bench(&pipelines, &frontend, &wav, runs.max(1), warmup)?;
            print!("{}", s2i_device::bench::side_by_side(&reports));
            let options = s2i_kernels::PlanOptions::from_env()?;
            let path = |isa: Option<s2i_kernels::Isa>| isa.map_or("off", |isa| isa.name());
            let (direct, gru) = (path(options.direct_conv), path(options.recurrent_gru));
            let integer = options.integer_conv.map_or("off", |isa| isa.name());
            let dense = path(options.int8_dense);
            for p in &pipelines {
                for k in p.kernels() {
                    println!(
                        "{}: {} of {} matrix products on integer kernels ({}); direct \
                         convolutions ({direct}): {}; recurrent GRUs ({gru}): {}; int8 direct \
                         convolutions ({integer}): {}; int8-weight dense layers ({dense}): {}",
                        k.file.file_name().unwrap_or_default().to_string_lossy(),
                        k.integer,
                        k.matrix_products,
                        k.kernels.join(", "),
                        k.direct_convolutions,
                        k.recurrent_grus,
                        k.integer_convolutions,
                        k.int8_dense
                    );
                }
            }
        }
        Command::Run { config, check } => {
            env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
                .init();
            let cfg = Config::load(&config)?;
            if check {
                let pipeline = app::build::check(&cfg, &frontend)
                    .with_context(|| config.display().to_string())?;
                pipeline.dry_run().with_context(|| {
                    format!("{}: bundle {}", config.display(), cfg.bundle.display())
                })?;
                let opened = app::probe::open_devices(&cfg, &frontend)
                    .with_context(|| config.display().to_string())?;
                println!(
                    "{}: {:?} mode, bundle {} ({} stage(s)), display {}, configuration valid",
                    config.display(),
                    cfg.mode,
                    pipeline.manifest.bundle_id,
                    pipeline.stages(),
                    cfg.display.kind()
                );
                for line in opened {
                    println!("  {line}");
                }
                return Ok(());
            }
            let summary = app::build::run(&cfg, &frontend)
                .with_context(|| format!("running {}", config.display()))?;
            println!(
                "{} picture(s), {} error(s) shown",
                summary.pictures, summary.errors
            );
        }
        Command::Devices => print!("{}", app::devices::inventory()),
        Command::Features { wavs } => {
            println!("front end tables {}", frontend.table_hash());
            for wav in wavs {
                let f = frontend.features_from_wav_file(&wav)?;
                let mean =
                    f.data.iter().map(|&v| v as f64).sum::<f64>() / f.data.len().max(1) as f64;
                println!(
                    "{}: {} bands x {} frames (10 ms), mean {mean:.4}",
                    wav.display(),
                    f.n_mels,
                    f.frames
                );
            }
        }
    }
    Ok(())
}

fn parse_precision(s: &str) -> Result<Precision, String> {
    match s {
        "f32" => Ok(Precision::F32),
        "int8" => Ok(Precision::Int8),
        other => Err(format!("`{other}`: expected f32 or int8")),
    }
}

fn to_image(image: &StageImage) -> Result<image::RgbImage> {
    image::RgbImage::from_raw(image.side, image.side, image.rgb.clone())
        .context("the picture's buffer does not match its size")
}

/// The alphabetically first wav in `<bundle>/samples`.
fn first_sample(bundle: &std::path::Path) -> Result<PathBuf> {
    let dir = bundle.join("samples");
    let mut wavs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("{}: no samples folder; pass --wav", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wav"))
        .collect();
    wavs.sort();
    wavs.into_iter()
        .next()
        .with_context(|| format!("{}: no wav files; pass --wav", dir.display()))
}
