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
    /// The speech embedding network: train, evaluate, extract caption embeddings.
    Sen {
        #[command(subcommand)]
        command: SenCommand,
    },
    /// The attribute probe that judges generated images on synthetic sets.
    Probe {
        #[command(subcommand)]
        command: ProbeCommand,
    },
    /// The generator (densely-stacked, relation-supervised): train, sample, evaluate.
    Rdg {
        #[command(subcommand)]
        command: RdgCommand,
    },
    /// Write a model bundle (ONNX graphs checked under tract, manifest) from trained SEN and RDG
    /// runs, or re-check one with --verify.
    Export(Box<s2i_host::export::ExportArgs>),
}

#[derive(Subcommand)]
enum RdgCommand {
    /// Train the generator, discriminators and relation supervisor on extracted embeddings.
    Train(Box<s2i_host::rdg::trainer::RdgTrainArgs>),
    /// Pictures for spoken captions (wav files), through the SEN and the EMA generator.
    Sample(s2i_host::rdg::sample::SampleArgs),
    /// S2IGAN mAP, attribute accuracy and Fréchet distances on the test captions, beside real
    /// images (ceiling) and shuffled captions (floor).
    Eval(s2i_host::eval::gan::GanEvalArgs),
    /// Quality against CPU minutes: evaluates the snapshots runs kept and draws one chart per
    /// measure, a line per run.
    Curve(s2i_host::eval::curve::CurveArgs),
}

#[derive(Subcommand)]
enum SenCommand {
    /// Train the speech and image encoders jointly (matching + class loss).
    Train(Box<s2i_host::sen::TrainArgs>),
    /// SEN mAP and speech→image R@k on the test split, and a projection PNG of the embeddings.
    Eval(s2i_host::sen::eval::EvalArgs),
    /// One embedding per spoken caption, for generator training.
    Extract(s2i_host::sen::extract::ExtractArgs),
}

#[derive(Subcommand)]
enum ProbeCommand {
    /// Train the probe on a synthetic set's real train images; report its test accuracy.
    Train(s2i_host::eval::probe::ProbeTrainArgs),
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
        Command::Sen { command } => match command {
            SenCommand::Train(args) => s2i_host::sen::trainer::run(&args),
            SenCommand::Eval(args) => s2i_host::sen::eval::run(&args).map(|_| ()),
            SenCommand::Extract(args) => s2i_host::sen::extract::run(&args).map(|_| ()),
        },
        Command::Probe { command } => match command {
            ProbeCommand::Train(args) => s2i_host::eval::probe::run(&args).map(|_| ()),
        },
        Command::Rdg { command } => match command {
            RdgCommand::Train(args) => s2i_host::rdg::trainer::run(&args),
            RdgCommand::Sample(args) => s2i_host::rdg::sample::run(&args).map(|_| ()),
            RdgCommand::Eval(args) => s2i_host::eval::gan::run(&args).map(|_| ()),
            RdgCommand::Curve(args) => s2i_host::eval::curve::run(&args).map(|_| ()),
        },
        Command::Export(args) => s2i_host::export::bundle::run(&args),
    }
}
