//! The generator's building blocks (spec §5.1). Convolutions feeding a BN have no bias (BN's β
//! is the bias, and the exporter folds the BN into the convolution); every GLU halves the
//! channels, so each block's convolution produces twice the channels it hands on.

use tch::{nn, nn::Module, nn::ModuleT, Tensor};

/// Running-statistics momentum of every generator BN (PyTorch's default).
pub const BN_MOMENTUM: f64 = 0.1;

/// BN as PyTorch builds it (γ = 1, β = 0, eps 1e-5, momentum 0.1); [`super::init`] then applies
/// the spec's γ ~ N(1, 0.02). tch's default γ is uniform in [0, 1), which we do not want even
/// before initialisation.
pub fn batch_norm2d(p: nn::Path, channels: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, channels, bn_config())
}

pub fn batch_norm1d(p: nn::Path, features: i64) -> nn::BatchNorm {
    nn::batch_norm1d(p, features, bn_config())
}

fn bn_config() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        eps: 1e-5,
        momentum: BN_MOMENTUM,
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        ..Default::default()
    }
}

/// 3×3, stride 1, padding 1, no bias.
pub fn conv3x3(p: nn::Path, in_channels: i64, out_channels: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        padding: 1,
        bias: false,
        ..Default::default()
    };
    nn::conv2d(p, in_channels, out_channels, 3, cfg)
}

/// Gated linear unit over the channels (dim 1): first half ⊙ σ(second half).
pub fn glu(xs: &Tensor) -> Tensor {
    xs.glu(1)
}

/// Repeat a `[B, D]` vector over an S×S grid: `[B, D, S, S]` (how G and D join a condition to a
/// feature map).
pub fn tile(vector: &Tensor, side: i64) -> Tensor {
    let (b, d) = vector.size2().expect("tile expects a [batch, dim] tensor");
    vector.view([b, d, 1, 1]).expand([b, d, side, side], false)
}

/// Nearest ×2 → conv3×3 in→2·out → BN → GLU: `[B, in, S, S]` → `[B, out, 2S, 2S]`.
#[derive(Debug)]
pub struct UpBlock {
    pub conv: nn::Conv2D,
    pub bn: nn::BatchNorm,
    pub in_channels: i64,
    pub out_channels: i64,
}

impl UpBlock {
    pub fn new(p: nn::Path, in_channels: i64, out_channels: i64) -> Self {
        Self {
            conv: conv3x3(&p / "conv", in_channels, 2 * out_channels),
            bn: batch_norm2d(&p / "bn", 2 * out_channels),
            in_channels,
            out_channels,
        }
    }
}

impl ModuleT for UpBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let (_, _, h, w) = xs.size4().expect("UpBlock expects [B, C, H, W]");
        let up = xs.upsample_nearest2d([2 * h, 2 * w], None, None);
        glu(&up.apply(&self.conv).apply_t(&self.bn, train))
    }
}

/// Conv3×3 in→2·out → BN → GLU at the same resolution (the paper's "Block3x3_relu", which is in
/// fact a GLU): mixes the tiled condition into a refinement stage's input.
#[derive(Debug)]
pub struct JoinBlock {
    pub conv: nn::Conv2D,
    pub bn: nn::BatchNorm,
}

impl JoinBlock {
    pub fn new(p: nn::Path, in_channels: i64, out_channels: i64) -> Self {
        Self {
            conv: conv3x3(&p / "conv", in_channels, 2 * out_channels),
            bn: batch_norm2d(&p / "bn", 2 * out_channels),
        }
    }
}

impl ModuleT for JoinBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        glu(&xs.apply(&self.conv).apply_t(&self.bn, train))
    }
}

/// x + BN(conv(GLU(BN(conv(x))))), C→2C→C; no activation after the sum (as the paper's code).
#[derive(Debug)]
pub struct ResBlock {
    pub conv1: nn::Conv2D,
    pub bn1: nn::BatchNorm,
    pub conv2: nn::Conv2D,
    pub bn2: nn::BatchNorm,
}

impl ResBlock {
    pub fn new(p: nn::Path, channels: i64) -> Self {
        Self {
            conv1: conv3x3(&p / "conv1", channels, 2 * channels),
            bn1: batch_norm2d(&p / "bn1", 2 * channels),
            conv2: conv3x3(&p / "conv2", channels, channels),
            bn2: batch_norm2d(&p / "bn2", channels),
        }
    }
}

impl ModuleT for ResBlock {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let h = glu(&xs.apply(&self.conv1).apply_t(&self.bn1, train));
        xs + h.apply(&self.conv2).apply_t(&self.bn2, train)
    }
}

/// Conv3×3 C→3 (no bias) → tanh: an RGB image in [-1, 1].
#[derive(Debug)]
pub struct ToImage {
    pub conv: nn::Conv2D,
}

impl ToImage {
    pub fn new(p: nn::Path, channels: i64) -> Self {
        Self {
            conv: conv3x3(&p / "conv", channels, 3),
        }
    }
}

impl Module for ToImage {
    fn forward(&self, xs: &Tensor) -> Tensor {
        xs.apply(&self.conv).tanh()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn randn(shape: &[i64]) -> Tensor {
        Tensor::randn(shape, (Kind::Float, Device::Cpu))
    }

    #[test]
    fn glu_halves_channels_and_gates() {
        let a = Tensor::from_slice(&[2.0f32, 0.0]).view([1, 2, 1, 1]);
        let out = glu(&a);
        assert_eq!(out.size(), [1, 1, 1, 1]);
        // 2 · σ(0) = 1
        assert!((out.double_value(&[0, 0, 0, 0]) - 1.0).abs() < 1e-6);
        assert_eq!(glu(&randn(&[2, 8, 3, 3])).size(), [2, 4, 3, 3]);
    }

    #[test]
    fn tile_repeats_over_space() {
        let v = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).view([2, 2]);
        let t = tile(&v, 3);
        assert_eq!(t.size(), [2, 2, 3, 3]);
        assert_eq!(t.double_value(&[1, 0, 2, 1]), 3.0);
    }

    #[test]
    fn block_shapes() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root();
        let x = randn(&[2, 8, 4, 4]);

        let up = UpBlock::new(&p / "up", 8, 6);
        assert_eq!(up.forward_t(&x, true).size(), [2, 6, 8, 8]);
        assert_eq!(up.conv.ws.size(), [12, 8, 3, 3]);

        let join = JoinBlock::new(&p / "join", 8, 5);
        assert_eq!(join.forward_t(&x, true).size(), [2, 5, 4, 4]);

        let res = ResBlock::new(&p / "res", 8);
        assert_eq!(res.forward_t(&x, true).size(), [2, 8, 4, 4]);
        assert_eq!(res.conv1.ws.size(), [16, 8, 3, 3]);
        assert_eq!(res.conv2.ws.size(), [8, 8, 3, 3]);

        let img = ToImage::new(&p / "img", 8).forward(&(x * 100.0));
        assert_eq!(img.size(), [2, 3, 4, 4]);
        assert!(img.abs().max().double_value(&[]) <= 1.0);

        // No bias anywhere: BN's β plays that part.
        let names: Vec<String> = vs.variables().into_keys().collect();
        assert!(names.iter().all(|n| !n.contains("conv.bias")), "{names:?}");
        assert!(names.iter().any(|n| n == "join.conv.weight"), "{names:?}");
    }

    #[test]
    fn up_block_upsamples_nearest() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let up = UpBlock::new(vs.root(), 2, 2);
        let x = Tensor::ones([2, 2, 3, 3], (Kind::Float, Device::Cpu));
        let y = up.forward_t(&x, false);
        assert_eq!(y.size(), [2, 2, 6, 6]);
        // Away from the zero padding, each channel of a constant input stays constant.
        let inner = y.narrow(2, 1, 4).narrow(3, 1, 4);
        let corner = inner.narrow(2, 0, 1).narrow(3, 0, 1);
        let spread = (&inner - corner).abs().max().double_value(&[]);
        assert!(spread < 1e-5, "{spread}");
    }
}
