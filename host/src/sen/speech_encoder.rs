//! SED, the speech encoder (spec §2): conv1d+BN twice (no activation, as the paper's code), a
//! two-layer bidirectional GRU, per-channel self-attention pooling over time, L2 normalisation.
//!
//! **Lengths.** Padding never changes an utterance's embedding: the convolutions are unpadded, so
//! valid outputs only read valid inputs; the backward GRU runs on each utterance reversed within
//! its own length (what packed sequences do in the paper); BN statistics and the attention softmax
//! skip padded frames (the paper lets them in, spec §14.3 — we do not, so training matches
//! batch-1 inference).

use tch::{nn, nn::RNN, Device, Kind, Tensor};

use super::config::SpeechEncoderConfig;
use super::masked_batch_norm::MaskedBatchNorm1d;

/// One layer: a GRU per direction (tch's fused kernel, single layer, unidirectional).
#[derive(Debug)]
struct GruLayer {
    forward: nn::GRU,
    backward: nn::GRU,
    weights: [GruWeights; 2],
}

/// One direction's weights in PyTorch's layout: gates (r, z, n) stacked on the first dimension.
#[derive(Debug)]
pub struct GruWeights {
    /// `[3H, I]`
    pub input: Tensor,
    /// `[3H, H]`
    pub hidden: Tensor,
    pub input_bias: Tensor,
    pub hidden_bias: Tensor,
}

impl GruWeights {
    fn of(p: &nn::Path) -> Self {
        let get = |name: &str| {
            p.get(name)
                .unwrap_or_else(|| panic!("tch's GRU registers {name}"))
        };
        Self {
            input: get("weight_ih_l0"),
            hidden: get("weight_hh_l0"),
            input_bias: get("bias_ih_l0"),
            hidden_bias: get("bias_hh_l0"),
        }
    }
}

#[derive(Debug)]
pub struct SpeechEncoder {
    pub config: SpeechEncoderConfig,
    pub conv1: nn::Conv1D,
    pub bn1: MaskedBatchNorm1d,
    pub conv2: nn::Conv1D,
    pub bn2: MaskedBatchNorm1d,
    gru: Vec<GruLayer>,
    pub attention_hidden: nn::Linear,
    pub attention_out: nn::Linear,
}

impl SpeechEncoder {
    pub fn new(p: nn::Path, config: &SpeechEncoderConfig) -> Self {
        let c = config;
        let conv = |p: nn::Path, i, o| {
            nn::conv1d(
                p,
                i,
                o,
                c.conv_kernel,
                nn::ConvConfig {
                    stride: c.conv_stride,
                    ..Default::default()
                },
            )
        };
        let gru_cfg = nn::RNNConfig {
            batch_first: true,
            ..Default::default()
        };
        let mut gru = Vec::with_capacity(c.gru_layers);
        let mut input = c.conv_channels[1];
        for l in 0..c.gru_layers {
            let (fwd, bwd) = (&p / format!("gru{l}_fwd"), &p / format!("gru{l}_bwd"));
            gru.push(GruLayer {
                forward: nn::gru(&fwd, input, c.gru_hidden, gru_cfg),
                backward: nn::gru(&bwd, input, c.gru_hidden, gru_cfg),
                weights: [GruWeights::of(&fwd), GruWeights::of(&bwd)],
            });
            input = 2 * c.gru_hidden;
        }
        let d = c.embedding_dim();
        // Orthogonal hidden weights, as the paper's code meant (spec §2).
        let attention_hidden = nn::linear(
            &p / "attention_hidden",
            d,
            c.attention_hidden,
            nn::LinearConfig {
                ws_init: nn::Init::Orthogonal { gain: 1.0 },
                ..Default::default()
            },
        );
        Self {
            config: config.clone(),
            conv1: conv(&p / "conv1", c.n_mels, c.conv_channels[0]),
            bn1: MaskedBatchNorm1d::new(&p / "bn1", c.conv_channels[0]),
            conv2: conv(&p / "conv2", c.conv_channels[0], c.conv_channels[1]),
            bn2: MaskedBatchNorm1d::new(&p / "bn2", c.conv_channels[1]),
            gru,
            attention_hidden,
            attention_out: nn::linear(
                &p / "attention_out",
                c.attention_hidden,
                d,
                Default::default(),
            ),
        }
    }

    /// Each GRU layer's (forward, backward) weights, first layer first (for export).
    pub fn gru_weights(&self) -> impl Iterator<Item = &[GruWeights; 2]> {
        self.gru.iter().map(|l| &l.weights)
    }

    /// `speech`: `[B, n_mels, T]` zero-padded; `lengths`: valid frames per row. Returns `[B, D]`
    /// unit vectors. Rows shorter than [`SpeechEncoderConfig::min_frames`] are treated as that
    /// long (callers refuse such input before it gets here).
    pub fn forward_t(&self, speech: &Tensor, lengths: &[i64], train: bool) -> Tensor {
        let pooled = self.frames_t(speech, lengths, train);
        &pooled
            / pooled
                .norm_scalaropt_dim(2.0, [-1].as_slice(), true)
                .clamp_min(1e-12)
    }

    /// Everything up to the attention pooling, before L2 normalisation.
    fn frames_t(&self, speech: &Tensor, lengths: &[i64], train: bool) -> Tensor {
        let c = &self.config;
        let device = speech.device();
        let conv_len = |l: i64| ((l - c.conv_kernel) / c.conv_stride + 1).max(1);
        let len1: Vec<i64> = lengths
            .iter()
            .map(|&l| conv_len(l.max(c.min_frames())))
            .collect();
        let len2: Vec<i64> = len1.iter().map(|&l| conv_len(l)).collect();

        let x = speech.apply(&self.conv1);
        let x = self.bn1.forward_t(
            &x,
            &frame_mask(&len1, x.size()[2], device).unsqueeze(1),
            train,
        );
        let x = x.apply(&self.conv2);
        let t2 = x.size()[2];
        let mask = frame_mask(&len2, t2, device); // [B, T']
        let x = self.bn2.forward_t(&x, &mask.unsqueeze(1), train);

        let mut h = x.transpose(1, 2); // [B, T', C]
        let reverse = reverse_index(&len2, t2, device);
        for layer in &self.gru {
            let (fwd, _) = layer.forward.seq(&h);
            let (bwd, _) = layer.backward.seq(&reverse_within(&h, &reverse));
            h = Tensor::cat(&[fwd, reverse_within(&bwd, &reverse)], 2);
        }

        // Per-channel attention: one softmax over time for each of the D channels.
        let logits = h
            .apply(&self.attention_hidden)
            .tanh()
            .apply(&self.attention_out);
        let valid = mask.unsqueeze(2).to_kind(Kind::Bool);
        let logits = logits.masked_fill(&valid.logical_not(), f64::NEG_INFINITY);
        let weights = logits.softmax(1, Kind::Float);
        (weights * h.masked_fill(&valid.logical_not(), 0.0)).sum_dim_intlist(
            [1].as_slice(),
            false,
            Kind::Float,
        )
    }
}

/// `[B, T]` float mask, 1 where `t < length`.
fn frame_mask(lengths: &[i64], t: i64, device: Device) -> Tensor {
    let lengths = Tensor::from_slice(lengths).to_device(device);
    Tensor::arange(t, (Kind::Int64, device))
        .unsqueeze(0)
        .lt_tensor(&lengths.unsqueeze(1))
        .to_kind(Kind::Float)
}

/// Gather indices that reverse each row's first `length` frames and leave the padding in place.
fn reverse_index(lengths: &[i64], t: i64, device: Device) -> Tensor {
    let mut idx = Vec::with_capacity(lengths.len() * t as usize);
    for &l in lengths {
        let l = l.min(t);
        idx.extend((0..t).map(|i| if i < l { l - 1 - i } else { i }));
    }
    Tensor::from_slice(&idx)
        .view([lengths.len() as i64, t])
        .to_device(device)
}

fn reverse_within(xs: &Tensor, index: &Tensor) -> Tensor {
    let features = xs.size()[2];
    xs.gather(
        1,
        &index.unsqueeze(2).expand([-1, -1, features], false),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sen::config::SenConfig;

    fn tiny() -> SpeechEncoderConfig {
        SpeechEncoderConfig {
            gru_hidden: 8,
            attention_hidden: 4,
            conv_channels: [6, 10],
            ..SenConfig::edge().speech
        }
    }

    #[test]
    fn output_is_unit_length_with_the_embedding_width() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let enc = SpeechEncoder::new(vs.root(), &tiny());
        let x = Tensor::randn([3, 40, 50], (Kind::Float, Device::Cpu));
        let e = enc.forward_t(&x, &[50, 40, 20], true);
        assert_eq!(e.size(), [3, 16]);
        let norms = Vec::<f32>::try_from(e.norm_scalaropt_dim(2.0, [1].as_slice(), false)).unwrap();
        assert!(norms.iter().all(|n| (n - 1.0).abs() < 1e-5), "{norms:?}");
        let frames = enc.frames_t(&x, &[50, 40, 20], false);
        assert_eq!(frames.size(), [3, 16]);
    }

    /// An utterance's embedding is the same alone, padded, or beside longer ones (eval mode).
    #[test]
    fn padding_does_not_change_an_embedding() {
        tch::manual_seed(1);
        let vs = nn::VarStore::new(Device::Cpu);
        let enc = SpeechEncoder::new(vs.root(), &tiny());
        // Give BN non-trivial running statistics first.
        let warm = Tensor::randn([4, 40, 60], (Kind::Float, Device::Cpu));
        let _ = enc.forward_t(&warm, &[60, 50, 40, 30], true);

        let short = Tensor::randn([1, 40, 33], (Kind::Float, Device::Cpu));
        let long = Tensor::randn([1, 40, 80], (Kind::Float, Device::Cpu));
        let alone = enc.forward_t(&short, &[33], false);
        let padded = Tensor::cat(
            &[
                short.shallow_clone(),
                Tensor::zeros([1, 40, 47], (Kind::Float, Device::Cpu)),
            ],
            2,
        );
        let garbage = Tensor::cat(
            &[
                short.shallow_clone(),
                Tensor::randn([1, 40, 47], (Kind::Float, Device::Cpu)) * 5.0,
            ],
            2,
        );
        let batch = Tensor::cat(&[long, garbage], 0);
        let in_batch = enc.forward_t(&batch, &[80, 33], false).get(1).unsqueeze(0);
        let padded = enc.forward_t(&padded, &[33], false);
        let diff = |a: &Tensor, b: &Tensor| f64::try_from((a - b).abs().max()).unwrap();
        assert!(diff(&alone, &padded) < 1e-6, "{}", diff(&alone, &padded));
        assert!(
            diff(&alone, &in_batch) < 1e-6,
            "{}",
            diff(&alone, &in_batch)
        );
    }

    /// In training mode, the batch statistics ignore padded frames too: padding a batch with
    /// extra garbage frames changes nothing.
    #[test]
    fn training_statistics_skip_padding() {
        tch::manual_seed(2);
        let vs = nn::VarStore::new(Device::Cpu);
        let enc = SpeechEncoder::new(vs.root(), &tiny());
        let x = Tensor::randn([2, 40, 40], (Kind::Float, Device::Cpu));
        let a = enc.forward_t(&x, &[40, 25], true);
        let x2 = Tensor::cat(
            &[x, Tensor::randn([2, 40, 30], (Kind::Float, Device::Cpu))],
            2,
        );
        let b = enc.forward_t(&x2, &[40, 25], true);
        assert!(f64::try_from((a - b).abs().max()).unwrap() < 1e-6);
    }

    #[test]
    fn reverse_index_flips_only_valid_frames() {
        let idx = reverse_index(&[3, 5], 5, Device::Cpu);
        assert_eq!(
            Vec::<i64>::try_from(idx.flatten(0, -1)).unwrap(),
            [2, 1, 0, 3, 4, 4, 3, 2, 1, 0]
        );
    }
}
