use anyhow::Result;
use clap::{Parser, Subcommand};

/// The s2igan-edge trainer.
#[derive(Parser)]
#[command(name = "s2i-host", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report libtorch, CUDA and the front end this build computes features with.
    Doctor,
    /// Compute the shared front end's log-mel features for wav files (the same bits as the board).
    Features(s2i_host::doctor::FeaturesArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Doctor => s2i_host::doctor::run(),
        Command::Features(args) => s2i_host::doctor::features(&args),
    }
}
