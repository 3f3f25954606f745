//! Where training runs: CUDA when present (or asked for), else the CPU with every core.

use anyhow::{bail, Result};
use tch::Device;

/// `--device`: auto picks CUDA when libtorch sees a GPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Resolves the choice; on the CPU libtorch gets all cores (`threads` overrides).
pub fn resolve_device(choice: DeviceChoice, threads: Option<usize>) -> Result<Device> {
    let device = match choice {
        DeviceChoice::Auto => Device::cuda_if_available(),
        DeviceChoice::Cpu => Device::Cpu,
        DeviceChoice::Cuda => {
            if !tch::Cuda::is_available() {
                bail!(
                    "--device cuda: libtorch sees no CUDA device (no GPU, no driver, or a CPU-only \
                     torch in the venv); use --device cpu or auto"
                );
            }
            Device::Cuda(0)
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = threads.unwrap_or(cores).max(1);
    tch::set_num_threads(threads as i32);
    Ok(device)
}
