use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use s2i_device::infer::LoadedBundle;
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
    /// Verify a model bundle: manifest, front end, file hashes, and that tract loads every model.
    Check {
        #[arg(long, default_value = "models/default")]
        bundle: PathBuf,
    },
    /// Print the front end's features for wav files (the same bits the trainer computes).
    Features {
        #[arg(required = true)]
        wavs: Vec<PathBuf>,
    },
}

fn main() -> Result<()> {
    let frontend = Frontend::default();
    match Cli::parse().command {
        Command::Check { bundle } => {
            let loaded = LoadedBundle::open(&bundle, &frontend)
                .with_context(|| format!("bundle {} is not usable", bundle.display()))?;
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
        }
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
