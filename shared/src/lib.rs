//! What the trainer and the board must agree on byte for byte: the integer speech front end and
//! the model-bundle manifest. No tch, no tract, no libm on the feature path.

pub mod bundle;
pub mod frontend;
pub mod input_file;
pub mod noise;
