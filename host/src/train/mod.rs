//! What every trainer shares: the optimiser, atomic checkpoints, the metrics log, the compute
//! device, Ctrl-C, the progress bar and the run-folder rule.

pub mod adam;
pub mod checkpoint;
pub mod cpu_time;
pub mod device;
pub mod interrupt;
pub mod metrics_log;
pub mod progress;
pub mod run_folder;

pub use adam::{Adam, AdamConfig};
pub use checkpoint::{Checkpoint, CheckpointError};
pub use device::{resolve_device, DeviceChoice};
pub use interrupt::Interrupt;
pub use metrics_log::MetricsLog;
