//! "Bird present": a small classifier of real birds against what a failing generator draws
//! instead — the set's own backgrounds with no bird, and backgrounds with smeared blobs of bird
//! colours. Attribute accuracy alone can be passed by a colour smear in the right place; the rate
//! at which generated pictures are called "bird" says whether there is a bird to judge.
//!
//! Negatives are painted by the synthetic set's own background code and go through the same
//! resize and crop as the real images, so the classifier has to look for the bird, not for a
//! difference in how the pictures were made. It trains on the train split and is scored on the
//! test split (the ceiling) and on freshly drawn negatives (the floor).
//!
//! `presence.safetensors` sits beside `probe.safetensors` in the probe's run folder.

use std::path::Path;

use anyhow::{bail, Context, Result};
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;
use tch::{nn, nn::Module, nn::OptimizerConfig, Device, Kind, Tensor};

use crate::data::synth::background::{self, Backdrop, BackgroundSpec};
use crate::data::synth::canvas;
use crate::data::synth::colour::{ColourName, Rgb};
use crate::data::{image_pipeline, Augment, Dataset, Split};
use crate::train::Checkpoint;

use super::probe::real_images;

pub const PRESENCE_FILE: &str = "presence.safetensors";
const KIND: &str = "s2i-presence";
/// Side the classifier looks at; larger images are averaged down to it.
pub const SIDE: i64 = 64;
/// Training steps of `probe train`'s classifier.
pub const STEPS: usize = 500;
const BATCH: i64 = 64;

/// Conv3×3/2 + ReLU ×4 (64² → 4²), global mean, linear → one logit.
#[derive(Debug)]
pub struct PresenceNet {
    convs: Vec<nn::Conv2D>,
    head: nn::Linear,
}

impl PresenceNet {
    pub fn new(p: &nn::Path) -> Self {
        let widths = [(3, 16), (16, 32), (32, 64), (64, 64)];
        let cfg = nn::ConvConfig {
            stride: 2,
            padding: 1,
            ..Default::default()
        };
        Self {
            convs: widths
                .iter()
                .enumerate()
                .map(|(i, &(a, b))| nn::conv2d(p / format!("conv{}", i + 1), a, b, 3, cfg))
                .collect(),
            head: nn::linear(p / "head", 64, 1, Default::default()),
        }
    }

    /// `[B, 3, S, S]` in [-1, 1] (S ≥ 16) → `[B]` logits.
    pub fn logits(&self, images: &Tensor) -> Tensor {
        let mut x = to_side(images);
        for c in &self.convs {
            x = x.apply(c).relu();
        }
        x.mean_dim([2, 3].as_slice(), false, Kind::Float)
            .apply(&self.head)
            .view([-1])
    }
}

impl Module for PresenceNet {
    fn forward(&self, xs: &Tensor) -> Tensor {
        self.logits(xs)
    }
}

/// Larger images averaged down to [`SIDE`]; smaller ones (test sets) are used as they are.
fn to_side(images: &Tensor) -> Tensor {
    if images.size()[2] <= SIDE {
        images.shallow_clone()
    } else {
        images.adaptive_avg_pool2d([SIDE, SIDE])
    }
}

/// What a negative shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Negative {
    /// A background of the set, no bird.
    Background,
    /// The same with one to three blurred, bird-sized blobs in bird colours.
    Blobs,
}

/// A negative at the set's canvas size, painted by its background code.
pub fn draw_negative(kind: Negative, rng: &mut ChaCha8Rng) -> RgbImage {
    let mut pm = canvas::new_pixmap();
    let spec = BackgroundSpec::sample(rng, &Backdrop::BIRD);
    background::paint(&mut pm, &spec, rng);
    background::finish(&mut pm, &spec);
    if kind == Negative::Blobs {
        let s = canvas::SIZE as f32;
        for _ in 0..rng.gen_range(1..=3) {
            let c = ColourName::ALL[rng.gen_range(0..ColourName::ALL.len())];
            let colour: Rgb = c.shade(rng, 1.0);
            let (cx, cy) = (rng.gen_range(0.25..0.75) * s, rng.gen_range(0.25..0.75) * s);
            let (rx, ry) = (rng.gen_range(0.08..0.25) * s, rng.gen_range(0.06..0.2) * s);
            let path = canvas::ellipse(cx, cy, rx, ry);
            canvas::fill_rgb(
                &mut pm,
                &path,
                colour,
                rng.gen_range(0.6..1.0),
                Default::default(),
            );
        }
        canvas::box_blur(&mut pm, rng.gen_range(2..8));
    }
    let side = canvas::SIZE;
    RgbImage::from_raw(side, side, canvas::to_rgb8(&pm)).expect("canvas is SIZE² RGB")
}

/// A batch of negatives through the real images' resize and crop, `[n, 3, crop, crop]`.
fn negatives(ds: &Dataset, n: usize, rng: &mut ChaCha8Rng) -> Tensor {
    let opts = ds.image_options();
    let crop = opts.crop_size as usize;
    let plane = 3 * crop * crop;
    let mut pixels = vec![0f32; n * plane];
    for row in 0..n {
        let kind = if rng.gen_bool(0.5) {
            Negative::Background
        } else {
            Negative::Blobs
        };
        let img = draw_negative(kind, rng);
        let base = image_pipeline::resize_shorter_side(&img, opts.load_size);
        let out = image_pipeline::crop_and_flip(&base, opts.crop_size, Augment::Random, rng);
        image_pipeline::write_chw(&out, &mut pixels[row * plane..(row + 1) * plane]);
    }
    Tensor::from_slice(&pixels).view([n as i64, 3, crop as i64, crop as i64])
}

/// A trained classifier and its figures on held-out data.
pub struct Presence {
    pub vs: nn::VarStore,
    pub net: PresenceNet,
}

impl Presence {
    /// Share of `images` called "bird".
    pub fn rate(&self, images: &Tensor) -> f64 {
        tch::no_grad(|| {
            let dev = self.vs.device();
            let mut present = 0i64;
            let n = images.size()[0];
            for start in (0..n).step_by(256) {
                let len = (n - start).min(256);
                let x = images.narrow(0, start, len).to_device(dev);
                present += self
                    .net
                    .logits(&x)
                    .gt(0.0)
                    .sum(Kind::Int64)
                    .int64_value(&[]);
            }
            present as f64 / n.max(1) as f64
        })
    }

    pub fn load(path: &Path, device: Device) -> Result<Self> {
        let ck = Checkpoint::load(path)?;
        if ck.header["kind"] != KIND {
            bail!("{}: not a bird-presence classifier", path.display());
        }
        let vs = nn::VarStore::new(device);
        let net = PresenceNet::new(&vs.root());
        ck.load_into(path, "net/", &vs)?;
        Ok(Self { vs, net })
    }
}

/// Trains on the train split's real images against drawn negatives, reports the rates on the
/// test split and on new negatives, and saves `presence.safetensors` in `out`.
pub fn train(
    ds: &Dataset,
    out: &Path,
    steps: usize,
    seed: u64,
    device: Device,
) -> Result<serde_json::Value> {
    let crop = ds.image_options().crop_size as i64;
    if crop < 16 {
        bail!("the bird-presence classifier needs crops of at least 16², got {crop}²");
    }
    let positives = real_images(ds, Split::Train, crop, Augment::Random)?;
    let n = positives.size()[0];
    if n == 0 {
        bail!("{}: the train split is empty", ds.root().display());
    }
    tch::manual_seed(seed as i64);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let vs = nn::VarStore::new(device);
    let net = PresenceNet::new(&vs.root());
    let mut opt = nn::Adam::default().build(&vs, 1e-3)?;
    let half = BATCH / 2;
    for _ in 0..steps {
        let pick = Tensor::randint(n, [half], (Kind::Int64, Device::Cpu));
        let pos = positives.index_select(0, &pick);
        let neg = negatives(ds, half as usize, &mut rng);
        let x = Tensor::cat(&[pos, neg], 0).to_device(device);
        let y = Tensor::cat(
            &[
                Tensor::ones([half], (Kind::Float, device)),
                Tensor::zeros([half], (Kind::Float, device)),
            ],
            0,
        );
        let loss = net.logits(&x).binary_cross_entropy_with_logits::<Tensor>(
            &y,
            None,
            None,
            tch::Reduction::Mean,
        );
        opt.backward_step(&loss);
    }
    let presence = Presence { vs, net };
    let test = real_images(ds, Split::Test, crop, Augment::Deterministic)?;
    let mut held_out = ChaCha8Rng::seed_from_u64(seed ^ 0x0b1e_5eed);
    let floor_images = negatives(ds, 256, &mut held_out);
    let report = json!({
        "real_test_rate": presence.rate(&test),
        "negative_rate": presence.rate(&floor_images),
        "steps": steps,
        "batch": BATCH,
    });
    let mut ck = Checkpoint::new(json!({ "kind": KIND, "format": 1, "report": report }));
    ck.extend(crate::train::checkpoint::named_variables(
        "net/",
        &presence.vs,
    ));
    let path = out.join(PRESENCE_FILE);
    ck.save(&path)
        .with_context(|| format!("cannot save {}", path.display()))?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negatives_are_canvas_sized_and_differ() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let a = draw_negative(Negative::Background, &mut rng);
        let b = draw_negative(Negative::Blobs, &mut rng);
        assert_eq!(a.dimensions(), (canvas::SIZE, canvas::SIZE));
        assert_ne!(a.as_raw(), b.as_raw());
    }

    #[test]
    fn logits_per_image_at_64_and_128() {
        let vs = nn::VarStore::new(Device::Cpu);
        let net = PresenceNet::new(&vs.root());
        for side in [32, 64, 128] {
            let x = Tensor::zeros([3, 3, side, side], (Kind::Float, Device::Cpu));
            assert_eq!(net.logits(&x).size(), [3]);
        }
    }
}
