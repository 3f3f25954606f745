//! The speech embedding network (spec §2–§4): the speech encoder SED and the image encoder IED
//! trained jointly with the matching and class losses, evaluated by the paper's SEN mAP, and
//! used to extract one embedding per caption for the generator.

pub mod config;
pub mod embed;
pub mod eval;
pub mod extract;
pub mod image_encoder;
pub mod inception;
pub mod load;
pub mod loss;
pub mod masked_batch_norm;
pub mod model;
pub mod projection;
pub mod retrieval;
pub mod spec_augment;
pub mod speech_encoder;
pub mod trainer;

pub use config::SenConfig;
pub use load::{load_sen, LoadedSen};
pub use model::Sen;
pub use trainer::{SenTrainer, TrainArgs};
