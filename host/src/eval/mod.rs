//! Judging generated images on synthetic sets, where the drawn attributes are known: an
//! attribute probe trained on real images ([`probe`]) and the Fréchet distance between probe
//! features of two image sets ([`frechet`]); and `rdg eval` over test captions ([`gan`]).

pub mod curve;
pub mod frechet;
pub mod gan;
pub mod presence;
pub mod probe;

pub use frechet::frechet_distance;
pub use probe::{AttributeProbe, AttributeSchema, LoadedProbe, ProbeConfig, ProbeTrainArgs};
