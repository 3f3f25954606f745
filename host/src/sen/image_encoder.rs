//! IED, the image encoder (spec §3): features from a backbone, a linear projection to the
//! embedding size, L2 normalisation.
//!
//! Two backbones (design decision 7): a small CNN trained jointly with the speech encoder (the
//! default, since ImageNet weights cannot be fetched here), or a frozen Inception-v3 whose weights
//! the user supplies (see [`super::inception`]).

use tch::{nn, nn::ModuleT, Kind, Tensor};

use super::config::ImageEncoderConfig;
use super::inception::InceptionFeatures;

/// Stride-2 conv blocks (3×3, BN, LeakyReLU with tch's 0.01 slope), global average pooling.
#[derive(Debug)]
pub struct SmallCnn {
    input_size: i64,
    blocks: nn::SequentialT,
    pub feature_dim: i64,
}

impl SmallCnn {
    pub fn new(p: nn::Path, config: &ImageEncoderConfig) -> Self {
        let mut blocks = nn::seq_t();
        let mut input = 3;
        for (i, &c) in config.channels.iter().enumerate() {
            let conv_cfg = nn::ConvConfig {
                stride: 2,
                padding: 1,
                bias: false,
                ..Default::default()
            };
            blocks = blocks
                .add(nn::conv2d(&p / format!("conv{i}"), input, c, 3, conv_cfg))
                .add(nn::batch_norm2d(
                    &p / format!("bn{i}"),
                    c,
                    Default::default(),
                ))
                .add_fn(|x| x.leaky_relu());
            input = c;
        }
        Self {
            input_size: config.input_size,
            blocks,
            feature_dim: input,
        }
    }

    /// `images`: `[B, 3, S, S]` in [-1, 1], any S (resampled to the configured size).
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        resize_square(images, self.input_size)
            .apply_t(&self.blocks, train)
            .mean_dim([2, 3].as_slice(), false, Kind::Float)
    }
}

/// Area averaging when shrinking by a whole factor (what a good resize does), bilinear otherwise.
pub fn resize_square(images: &Tensor, size: i64) -> Tensor {
    let s = images.size()[2];
    if s == size {
        images.shallow_clone()
    } else if s > size && s % size == 0 {
        images.adaptive_avg_pool2d([size, size])
    } else {
        images.upsample_bilinear2d([size, size], false, None, None)
    }
}

#[derive(Debug)]
pub enum Backbone {
    SmallCnn(SmallCnn),
    Inception(InceptionFeatures),
}

#[derive(Debug)]
pub struct ImageEncoder {
    pub backbone: Backbone,
    projection: nn::Linear,
}

impl ImageEncoder {
    pub fn new(p: nn::Path, backbone: Backbone, embedding_dim: i64) -> Self {
        let features = match &backbone {
            Backbone::SmallCnn(cnn) => cnn.feature_dim,
            Backbone::Inception(_) => InceptionFeatures::DIM,
        };
        Self {
            projection: nn::linear(
                &p / "projection",
                features,
                embedding_dim,
                Default::default(),
            ),
            backbone,
        }
    }

    /// Backbone features before the projection.
    pub fn features_t(&self, images: &Tensor, train: bool) -> Tensor {
        match &self.backbone {
            Backbone::SmallCnn(cnn) => cnn.forward_t(images, train),
            // Frozen: always eval mode, never a gradient (spec §3).
            Backbone::Inception(inc) => tch::no_grad(|| inc.forward(images)),
        }
    }

    /// `[B, D]` unit vectors.
    pub fn forward_t(&self, images: &Tensor, train: bool) -> Tensor {
        let e = self.features_t(images, train).apply(&self.projection);
        &e / e
            .norm_scalaropt_dim(2.0, [-1].as_slice(), true)
            .clamp_min(1e-12)
    }
}

impl ModuleT for ImageEncoder {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        ImageEncoder::forward_t(self, xs, train)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    #[test]
    fn small_cnn_embeds_any_size_to_unit_vectors() {
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = ImageEncoderConfig {
            input_size: 32,
            channels: vec![4, 8, 16],
        };
        let enc = ImageEncoder::new(
            vs.root(),
            Backbone::SmallCnn(SmallCnn::new(vs.root() / "cnn", &cfg)),
            12,
        );
        for size in [32, 64, 48] {
            let x = Tensor::rand([2, 3, size, size], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
            let e = enc.forward_t(&x, true);
            assert_eq!(e.size(), [2, 12]);
            let n = Vec::<f32>::try_from(e.norm_scalaropt_dim(2.0, [1].as_slice(), false)).unwrap();
            assert!(n.iter().all(|n| (n - 1.0).abs() < 1e-5));
        }
    }

    #[test]
    fn area_resize_averages_blocks() {
        let x = Tensor::from_slice(&[1f32, 3., 5., 7.])
            .view([1, 1, 2, 2])
            .expand([1, 3, 2, 2], false);
        let y = resize_square(&x, 1);
        assert_eq!(f64::try_from(y.mean(Kind::Float)).unwrap(), 4.0);
    }
}
