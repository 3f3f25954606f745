use anyhow::{Context, Result};
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
    /// Datasets: draw a synthetic spoken-caption set, or load one and report what is in it.
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
}

#[derive(Subcommand)]
enum DataCommand {
    /// Draw a synthetic spoken-caption set (birds or flowers) in the official S2IGAN layout.
    Synth(s2i_host::data::synth::SynthArgs),
    /// Load a dataset as training will (computing or reusing its feature cache) and print counts,
    /// classes, caption lengths and bad items.
    Inspect(s2i_host::data::InspectArgs),
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Doctor => s2i_host::doctor::run(),
        Command::Features(args) => s2i_host::doctor::features(&args),
        Command::Data { command } => match command {
            DataCommand::Synth(args) => s2i_host::data::synth::run(&args),
            DataCommand::Inspect(args) => {
                let report = s2i_host::data::inspect::inspect(&args)
                    .with_context(|| format!("cannot load the dataset {}", args.data.display()))?;
                print!("{report}");
                Ok(())
            }
        },
    }
}
