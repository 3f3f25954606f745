//! Differentiable augmentation (DiffAugment, Zhao et al. 2020) for what the discriminator sees:
//! the same random transforms on real and generated images, in the D step and in the G step, so
//! D cannot memorise the few thousand training pictures and G's gradient passes through.
//!
//! Only translation and cutout: DiffAugment's colour transform scales saturation and brightness,
//! which would teach a conditional D to ignore exactly the colours the speech names.

use tch::{Kind, Tensor};

use super::config::AugmentPolicy;

/// Applies `policy` to `images` `[B, C, S, S]`; each image draws its own transform from tch's
/// generator (seeded per step by the trainer).
pub fn augment(images: &Tensor, policy: AugmentPolicy) -> Tensor {
    match policy {
        AugmentPolicy::None => images.shallow_clone(),
        AugmentPolicy::TranslationCutout => cutout(&translate(images, 0.125), 0.5),
    }
}

/// Shifts each image by up to `ratio`·S pixels along each axis, filling with zeros.
pub fn translate(images: &Tensor, ratio: f64) -> Tensor {
    let (b, _, h, w) = images.size4().expect("translate expects [B, C, H, W]");
    let (sy, sx) = (
        ((h as f64 * ratio) + 0.5) as i64,
        ((w as f64 * ratio) + 0.5) as i64,
    );
    if sy == 0 && sx == 0 {
        return images.shallow_clone();
    }
    let dev = images.device();
    let dy = Tensor::randint_low(-sy, sy + 1, [b, 1, 1], (Kind::Int64, dev));
    let dx = Tensor::randint_low(-sx, sx + 1, [b, 1, 1], (Kind::Int64, dev));
    // Source row/column of each output pixel, in the zero-padded image.
    let rows = Tensor::arange(h, (Kind::Int64, dev)).view([1, h, 1]) - dy + sy;
    let cols = Tensor::arange(w, (Kind::Int64, dev)).view([1, 1, w]) - dx + sx;
    let padded = images.constant_pad_nd([sx, sx, sy, sy]);
    let (pw, ph) = (w + 2 * sx, h + 2 * sy);
    let index = (rows * pw + cols).view([b, 1, h * w]);
    let c = images.size()[1];
    padded
        .view([b, c, ph * pw])
        .gather(2, &index.expand([b, c, h * w], false), false)
        .view([b, c, h, w])
}

/// Zeroes one square of side `ratio`·S per image, centred anywhere in it (clipped at the edges).
pub fn cutout(images: &Tensor, ratio: f64) -> Tensor {
    let (b, _, h, w) = images.size4().expect("cutout expects [B, C, H, W]");
    let dev = images.device();
    let (ch, cw) = (
        ((h as f64 * ratio) + 0.5) as i64,
        ((w as f64 * ratio) + 0.5) as i64,
    );
    let cy = Tensor::randint(h, [b, 1, 1], (Kind::Int64, dev));
    let cx = Tensor::randint(w, [b, 1, 1], (Kind::Int64, dev));
    let rows = Tensor::arange(h, (Kind::Int64, dev)).view([1, h, 1]);
    let cols = Tensor::arange(w, (Kind::Int64, dev)).view([1, 1, w]);
    let inside_rows = rows
        .ge_tensor(&(&cy - ch / 2))
        .logical_and(&rows.lt_tensor(&(&cy - ch / 2 + ch)));
    let inside_cols = cols
        .ge_tensor(&(&cx - cw / 2))
        .logical_and(&cols.lt_tensor(&(&cx - cw / 2 + cw)));
    let keep = inside_rows.logical_and(&inside_cols).logical_not();
    images * keep.unsqueeze(1).to_kind(images.kind())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn ramp(b: i64, s: i64) -> Tensor {
        Tensor::arange(b * 3 * s * s, (Kind::Float, Device::Cpu)).view([b, 3, s, s]) + 1.0
    }

    #[test]
    fn translation_moves_whole_images_and_fills_zeros() {
        tch::manual_seed(3);
        let x = ramp(8, 16);
        let y = translate(&x, 0.125);
        assert_eq!(y.size(), x.size());
        for i in 0..8 {
            let (xi, yi) = (x.get(i), y.get(i));
            // Some shift in [-2, 2]² reproduces the output from the input.
            let found = (-2i64..=2).any(|dy| {
                (-2i64..=2).any(|dx| {
                    let shifted = xi.roll([dy, dx], [1, 2]);
                    let rows = Tensor::arange(16, (Kind::Int64, Device::Cpu)) - dy;
                    let valid_r = rows.ge(0).logical_and(&rows.lt(16)).view([1, 16, 1]);
                    let cols = Tensor::arange(16, (Kind::Int64, Device::Cpu)) - dx;
                    let valid_c = cols.ge(0).logical_and(&cols.lt(16)).view([1, 1, 16]);
                    let expect = shifted * valid_r.logical_and(&valid_c).to_kind(Kind::Float);
                    expect.equal(&yi)
                })
            });
            assert!(found, "image {i} is not a zero-filled shift of its input");
        }
    }

    #[test]
    fn cutout_zeroes_at_most_a_quarter_and_keeps_the_rest() {
        tch::manual_seed(4);
        let x = ramp(16, 32);
        let y = cutout(&x, 0.5);
        let zeroed = y
            .eq(0.0)
            .to_kind(Kind::Float)
            .mean(Kind::Float)
            .double_value(&[]);
        assert!(zeroed > 0.0 && zeroed <= 0.25 + 1e-6, "{zeroed}");
        let kept = y.ne(0.0);
        assert!(y.masked_select(&kept).equal(&x.masked_select(&kept)));
    }

    #[test]
    fn gradients_reach_the_input() {
        let x = ramp(2, 16).set_requires_grad(true);
        let y = augment(&x, AugmentPolicy::TranslationCutout);
        y.sum(Kind::Float).backward();
        let g = x.grad();
        assert!(g.sum(Kind::Float).double_value(&[]) > 0.0);
        assert!(augment(&x, AugmentPolicy::None).equal(&x));
    }
}
