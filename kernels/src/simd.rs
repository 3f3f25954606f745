//! The direct convolution's inner loop, once for each instruction set it has a path for.
//!
//! One generic loop ([`plane`]) is written against [`Lanes`], a SIMD vector of f32; each
//! instruction set instantiates it with its own register blocking inside a function compiled
//! for that set (`#[target_feature]`), chosen at run time by [`Isa::detect`].

/// The instruction set a direct convolution runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// x86-64 AVX-512F: 16 lanes, 8 output channels × 32 points in 16 registers.
    Avx512,
    /// x86-64 AVX2 with FMA: 8 lanes, 4 output channels × 24 points in 12 registers.
    Avx2,
    /// AArch64 Advanced SIMD (every 64-bit Arm board): 4 lanes, 4 output channels × 16 points
    /// in 16 registers.
    Neon,
}

impl Isa {
    /// The best path this CPU runs, or `None` where there is none (tract's own lowering stays).
    pub fn detect() -> Option<Isa> {
        Self::available().into_iter().next()
    }

    /// Every path this CPU can run, best first (the tests check each one).
    pub fn available() -> Vec<Isa> {
        // Stays empty (and unmutated) on targets with no path, such as 32-bit Arm.
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Isa::Avx512);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                v.push(Isa::Avx2);
            }
        }
        #[cfg(target_arch = "aarch64")]
        v.push(Isa::Neon);
        v
    }

    /// Output channels computed together (the weights are packed in blocks of this many).
    pub const fn channel_block(self) -> usize {
        match self {
            Isa::Avx512 => 8,
            Isa::Avx2 | Isa::Neon => 4,
        }
    }

    /// Consecutive points of the (row-padded) output plane computed together.
    pub const fn point_block(self) -> usize {
        match self {
            Isa::Avx512 => 32,
            Isa::Avx2 => 24,
            Isa::Neon => 16,
        }
    }

    /// `(channels, points)` computed together for a convolution with `c_out` output channels:
    /// [`Isa::channel_block`] × [`Isa::point_block`], except that AVX-512's 8 channels would
    /// leave most of a block empty for the 3-channel image heads, which get 4 × 64 instead.
    pub const fn blocking(self, c_out: usize) -> (usize, usize) {
        match self {
            Isa::Avx512 if c_out <= 4 => (4, 64),
            _ => (self.channel_block(), self.point_block()),
        }
    }

    /// f32 lanes of one vector.
    pub const fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2 => 8,
            Isa::Neon => 4,
        }
    }

    /// Vectors of accumulators a matrix-vector product (the GRU's recurrent one, the int8 dense
    /// layers') keeps in registers per pass.
    pub const fn matvec_vectors(self) -> usize {
        match self {
            Isa::Avx512 | Isa::Neon => 24,
            Isa::Avx2 => 12,
        }
    }

    /// Rows of a matrix-vector product computed per pass over its vector (its weights are packed
    /// in chunks of this many rows).
    pub const fn matvec_rows(self) -> usize {
        self.matvec_vectors() * self.lanes()
    }

    /// Vectors of rows the GRU's input-side product computes per pass.
    pub const fn projection_vectors(self) -> usize {
        match self {
            Isa::Avx512 | Isa::Neon => 4,
            Isa::Avx2 => 2,
        }
    }

    /// Time steps the input-side product computes per pass: with [`Isa::projection_vectors`],
    /// 24 (12 on AVX2) accumulators, each weight vector loaded serving this many steps.
    pub const PROJECTION_STEPS: usize = 6;

    /// Rows of the input-side product per pass (its weights are packed in chunks of this many).
    pub const fn projection_rows(self) -> usize {
        self.projection_vectors() * self.lanes()
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512f",
            Isa::Avx2 => "avx2+fma",
            Isa::Neon => "neon",
        }
    }
}

/// What one channel block's computation reads and writes; see [`plane`]. `I` is one input
/// point (an f32, or a word of four int8 channels) and `T` a weight, start or output value (f32,
/// or i32: four weight bytes, or a sum).
pub(crate) struct PlaneArgs<'a, I, T> {
    /// The zero-padded input, `channels` planes of `plane` points, plus the slack that the last
    /// point block's widest tap reads past the end.
    pub input: &'a [I],
    /// Input planes: channels, or channel quads for int8.
    pub channels: usize,
    pub plane: usize,
    /// Offset of each kernel tap from an output point, in the padded plane (`ky * w + kx`).
    pub taps: &'a [usize],
    /// The block's weights as `[channels][tap][channel_block]`, zero past the last channel.
    pub weights: &'a [T],
    /// What each of the block's `channel_block` sums starts from (the bias).
    pub start: &'a [T],
    /// The block's output planes, `channel_block` of `points` values each.
    pub out: &'a mut [T],
    /// Points computed per plane: output rows × padded input width (the columns past the
    /// output width are computed and dropped by the caller, which keeps every load contiguous).
    pub points: usize,
}

/// A vector that accumulates one output point per lane over a convolution's taps: f32 lanes by
/// fused multiply-add ([`Lanes`]), i32 lanes by the dot product of four int8 channels
/// (`dot`).
pub(crate) trait Accumulator: Copy {
    const N: usize;
    /// One input point.
    type Input: Copy;
    /// A weight, start or output value.
    type Value: Copy + Default;
    unsafe fn splat_value(x: Self::Value) -> Self;
    unsafe fn load_input(p: *const Self::Input) -> Self;
    unsafe fn store_value(self, p: *mut Self::Value);
    /// Each lane plus its input times `w`.
    unsafe fn accumulate(self, x: Self, w: Self::Value) -> Self;
}

impl<V: Lanes> Accumulator for V {
    const N: usize = <V as Lanes>::N;
    type Input = f32;
    type Value = f32;
    #[inline(always)]
    unsafe fn splat_value(x: f32) -> Self {
        V::splat(x)
    }
    #[inline(always)]
    unsafe fn load_input(p: *const f32) -> Self {
        V::load(p)
    }
    #[inline(always)]
    unsafe fn store_value(self, p: *mut f32) {
        self.store(p)
    }
    #[inline(always)]
    unsafe fn accumulate(self, x: Self, w: f32) -> Self {
        self.fma(x, w)
    }
}

/// A vector of f32 lanes.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
trait Lanes: Copy {
    const N: usize;
    unsafe fn splat(x: f32) -> Self;
    unsafe fn load(p: *const f32) -> Self;
    unsafe fn store(self, p: *mut f32);
    /// `self + a * w`, fused.
    unsafe fn fma(self, a: Self, w: f32) -> Self;
    /// `N` int8 values widened to f32.
    unsafe fn load_i8(p: *const i8) -> Self;
}

/// A weight element of a matrix-vector product: f32, or int8 widened in registers.
trait Weight: Copy {
    unsafe fn load<V: Lanes>(p: *const Self) -> V;
}

impl Weight for f32 {
    #[inline(always)]
    unsafe fn load<V: Lanes>(p: *const f32) -> V {
        V::load(p)
    }
}

impl Weight for i8 {
    #[inline(always)]
    unsafe fn load<V: Lanes>(p: *const i8) -> V {
        V::load_i8(p)
    }
}

/// A matrix-vector product's packed weights.
#[derive(Clone, Copy)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub(crate) enum MatvecWeights<'a> {
    F32(&'a [f32]),
    I8(&'a [i8]),
}

/// `out = W · x` for `W` packed as `[row chunk][column][ACC · N rows]`: the chunk's `ACC`
/// accumulator vectors stay in registers over all of `x`, each weight is read once, in order.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[inline(always)]
unsafe fn matvec<V: Lanes, W: Weight, const ACC: usize>(weights: &[W], x: &[f32], out: &mut [f32]) {
    let chunk = ACC * V::N;
    debug_assert!(out.len().is_multiple_of(chunk) && weights.len() == out.len() * x.len());
    let mut w = weights.as_ptr();
    for rows in out.chunks_exact_mut(chunk) {
        let mut acc = [V::splat(0.0); ACC];
        for &xj in x {
            for (v, a) in acc.iter_mut().enumerate() {
                *a = a.fma(W::load::<V>(w.add(v * V::N)), xj);
            }
            w = w.add(chunk);
        }
        for (v, a) in acc.iter().enumerate() {
            a.store(rows.as_mut_ptr().add(v * V::N));
        }
    }
}

/// `TT` steps of the input-side product for one chunk of `GV` vectors of rows:
/// `out[t][g] = bias[g] + Σ_k W[g][k] · x[t][k]`, `W`'s chunk packed as `[k][GV · N]`. Each
/// weight vector loaded serves `TT` steps, each input value broadcast `GV` vectors.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[inline(always)]
unsafe fn project<V: Lanes, const GV: usize, const TT: usize>(
    w: *const f32,
    bias: *const f32,
    x: *const f32,
    k: usize,
    out: *mut f32,
    out_stride: usize,
) {
    let mut acc = [[V::splat(0.0); GV]; TT];
    for row in acc.iter_mut() {
        for (v, a) in row.iter_mut().enumerate() {
            *a = V::load(bias.add(v * V::N));
        }
    }
    for kk in 0..k {
        let mut wv = [V::splat(0.0); GV];
        for (v, wv) in wv.iter_mut().enumerate() {
            *wv = V::load(w.add((kk * GV + v) * V::N));
        }
        for (t, row) in acc.iter_mut().enumerate() {
            let xt = *x.add(t * k + kk);
            for v in 0..GV {
                row[v] = row[v].fma(wv[v], xt);
            }
        }
    }
    for (t, row) in acc.iter().enumerate() {
        for (v, a) in row.iter().enumerate() {
            a.store(out.add(t * out_stride + v * V::N));
        }
    }
}

/// The whole input-side product, [`project`] over every chunk of rows and every `TT` steps
/// (the last few one at a time).
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[inline(always)]
unsafe fn project_all<V: Lanes, const GV: usize, const TT: usize>(a: ProjectionArgs) {
    let chunk = GV * V::N;
    let steps = a.x.len() / a.k;
    debug_assert!(a.rows.is_multiple_of(chunk) && a.w.len() == a.rows * a.k);
    debug_assert!(a.bias.len() == a.rows && a.out.len() == steps * a.rows);
    let (w, bias, x, out) = (
        a.w.as_ptr(),
        a.bias.as_ptr(),
        a.x.as_ptr(),
        a.out.as_mut_ptr(),
    );
    for c in 0..a.rows / chunk {
        let (w, bias, out) = (
            w.add(c * chunk * a.k),
            bias.add(c * chunk),
            out.add(c * chunk),
        );
        let mut t = 0;
        while t + TT <= steps {
            project::<V, GV, TT>(w, bias, x.add(t * a.k), a.k, out.add(t * a.rows), a.rows);
            t += TT;
        }
        while t < steps {
            project::<V, GV, 1>(w, bias, x.add(t * a.k), a.k, out.add(t * a.rows), a.rows);
            t += 1;
        }
    }
}

/// What the GRU's input-side product reads and writes; see [`input_product`].
pub(crate) struct ProjectionArgs<'a> {
    /// `W` packed as `[row chunk][k][chunk rows]`, `rows × k` values.
    pub w: &'a [f32],
    /// `rows` values.
    pub bias: &'a [f32],
    /// The input, `[steps][k]`.
    pub x: &'a [f32],
    pub k: usize,
    /// Rows of `W`, padded to whole chunks of `isa.projection_rows()`.
    pub rows: usize,
    /// `[steps][rows]`.
    pub out: &'a mut [f32],
}

/// The GRU's input-side product for the whole sequence with `isa`'s blocking.
///
/// # Safety
/// `isa` must run on this CPU (one of [`Isa::available`]) and the slices must hold what
/// [`ProjectionArgs`] says, packed for `isa.projection_rows()`.
pub(crate) unsafe fn input_product(isa: Isa, args: ProjectionArgs) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::project_avx512(args),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::project_avx2(args),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => arm::project_neon(args),
        #[allow(unreachable_patterns)]
        other => {
            let _ = args;
            unreachable!("{} is not an instruction set of this build", other.name())
        }
    }
}

/// The matrix-vector product `out = W · h` with `isa`'s blocking (the GRU's recurrent product,
/// the int8 dense layers').
///
/// # Safety
/// `isa` must run on this CPU (one of [`Isa::available`]); the weights must be packed in chunks
/// of `isa.matvec_rows()` rows, `out.len()` a whole number of chunks and the weights
/// `out.len() × h.len()` values.
pub(crate) unsafe fn matrix_vector(isa: Isa, weights: MatvecWeights, h: &[f32], out: &mut [f32]) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::matvec_avx512(weights, h, out),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::matvec_avx2(weights, h, out),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => arm::matvec_neon(weights, h, out),
        #[allow(unreachable_patterns)]
        other => {
            let _ = (weights, h, out);
            unreachable!("{} is not an instruction set of this build", other.name())
        }
    }
}

/// The convolution over one plane: `CO` output channels × `XV` vectors of points per step, the
/// accumulators in registers for the whole reduction over input planes and taps, so each
/// input vector loaded serves `CO` channels and each weight `XV` vectors.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[inline(always)]
pub(crate) unsafe fn plane<V: Accumulator, const CO: usize, const XV: usize>(
    a: PlaneArgs<V::Input, V::Value>,
) {
    let block = XV * V::N;
    debug_assert!(a.points >= block);
    debug_assert!(a.input.len() >= a.channels * a.plane);
    debug_assert!(a.weights.len() >= a.channels * a.taps.len() * CO);
    debug_assert!(a.start.len() == CO && a.out.len() >= CO * a.points);
    let input = a.input.as_ptr();
    let out = a.out.as_mut_ptr();
    let zero = V::splat_value(V::Value::default());
    let mut first = 0;
    while first < a.points {
        // The last block is moved back to end at the last point: it recomputes a few points
        // (same values) rather than reading or writing past the plane.
        let p = first.min(a.points - block);
        let mut acc = [[zero; XV]; CO];
        for (row, &s) in acc.iter_mut().zip(a.start) {
            *row = [V::splat_value(s); XV];
        }
        let mut w = a.weights.as_ptr();
        for c in 0..a.channels {
            let base = input.add(c * a.plane + p);
            for &tap in a.taps {
                let at = base.add(tap);
                let mut x = [zero; XV];
                for (v, xv) in x.iter_mut().enumerate() {
                    *xv = V::load_input(at.add(v * V::N));
                }
                for (j, row) in acc.iter_mut().enumerate() {
                    let wj = *w.add(j);
                    for v in 0..XV {
                        row[v] = row[v].accumulate(x[v], wj);
                    }
                }
                w = w.add(CO);
            }
        }
        for (j, row) in acc.iter().enumerate() {
            let o = out.add(j * a.points + p);
            for (v, xv) in row.iter().enumerate() {
                xv.store_value(o.add(v * V::N));
            }
        }
        first += block;
    }
}

/// Runs [`plane`] with `isa`'s blocking for the block's channels (`args.start.len()`, one of
/// [`Isa::blocking`]'s).
///
/// # Safety
/// `isa` must run on this CPU (one of [`Isa::available`]), and the slices must hold what
/// [`PlaneArgs`] says, with `points` at least the blocking's points.
pub(crate) unsafe fn run(isa: Isa, args: PlaneArgs<f32, f32>) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if args.start.len() == Isa::Avx512.blocking(1).0 => {
            x86::plane_avx512_narrow(args)
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::plane_avx512(args),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::plane_avx2(args),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => arm::plane_neon(args),
        #[allow(unreachable_patterns)]
        other => {
            let _ = args;
            unreachable!("{} is not an instruction set of this build", other.name())
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{matvec, plane, project_all, Isa, Lanes, MatvecWeights, PlaneArgs, ProjectionArgs};
    use std::arch::x86_64::*;

    /// The two x86 vector types differ only in width and intrinsic names.
    macro_rules! x86_lanes {
        ($v:ty, $n:expr, $set1:ident, $load:ident, $store:ident, $fmadd:ident, $widen:ident) => {
            impl Lanes for $v {
                const N: usize = $n;
                #[inline(always)]
                unsafe fn splat(x: f32) -> Self {
                    $set1(x)
                }
                #[inline(always)]
                unsafe fn load(p: *const f32) -> Self {
                    $load(p)
                }
                #[inline(always)]
                unsafe fn store(self, p: *mut f32) {
                    $store(p, self)
                }
                #[inline(always)]
                unsafe fn fma(self, a: Self, w: f32) -> Self {
                    $fmadd(a, $set1(w), self)
                }
                #[inline(always)]
                unsafe fn load_i8(p: *const i8) -> Self {
                    $widen(p)
                }
            }
        };
    }
    #[inline(always)]
    unsafe fn widen16(p: *const i8) -> __m512 {
        _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128(p as *const __m128i)))
    }

    #[inline(always)]
    unsafe fn widen8(p: *const i8) -> __m256 {
        _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64(p as *const __m128i)))
    }

    x86_lanes!(
        __m512,
        16,
        _mm512_set1_ps,
        _mm512_loadu_ps,
        _mm512_storeu_ps,
        _mm512_fmadd_ps,
        widen16
    );
    x86_lanes!(
        __m256,
        8,
        _mm256_set1_ps,
        _mm256_loadu_ps,
        _mm256_storeu_ps,
        _mm256_fmadd_ps,
        widen8
    );

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn plane_avx512(args: PlaneArgs<f32, f32>) {
        const ISA: Isa = Isa::Avx512;
        plane::<__m512, { ISA.channel_block() }, { ISA.point_block() / 16 }>(args)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn plane_avx512_narrow(args: PlaneArgs<f32, f32>) {
        const BLOCKING: (usize, usize) = Isa::Avx512.blocking(1);
        plane::<__m512, { BLOCKING.0 }, { BLOCKING.1 / 16 }>(args)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn plane_avx2(args: PlaneArgs<f32, f32>) {
        const ISA: Isa = Isa::Avx2;
        plane::<__m256, { ISA.channel_block() }, { ISA.point_block() / 8 }>(args)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn project_avx512(args: ProjectionArgs) {
        const ISA: Isa = Isa::Avx512;
        project_all::<__m512, { ISA.projection_vectors() }, { Isa::PROJECTION_STEPS }>(args)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn project_avx2(args: ProjectionArgs) {
        const ISA: Isa = Isa::Avx2;
        project_all::<__m256, { ISA.projection_vectors() }, { Isa::PROJECTION_STEPS }>(args)
    }

    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn matvec_avx512(w: MatvecWeights, x: &[f32], out: &mut [f32]) {
        const ACC: usize = Isa::Avx512.matvec_vectors();
        match w {
            MatvecWeights::F32(w) => matvec::<__m512, f32, ACC>(w, x, out),
            MatvecWeights::I8(w) => matvec::<__m512, i8, ACC>(w, x, out),
        }
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn matvec_avx2(w: MatvecWeights, x: &[f32], out: &mut [f32]) {
        const ACC: usize = Isa::Avx2.matvec_vectors();
        match w {
            MatvecWeights::F32(w) => matvec::<__m256, f32, ACC>(w, x, out),
            MatvecWeights::I8(w) => matvec::<__m256, i8, ACC>(w, x, out),
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{matvec, plane, project_all, Isa, Lanes, MatvecWeights, PlaneArgs, ProjectionArgs};
    use std::arch::aarch64::*;

    impl Lanes for float32x4_t {
        const N: usize = 4;
        #[inline(always)]
        unsafe fn splat(x: f32) -> Self {
            vdupq_n_f32(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self {
            vld1q_f32(p)
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut f32) {
            vst1q_f32(p, self)
        }
        #[inline(always)]
        unsafe fn fma(self, a: Self, w: f32) -> Self {
            vfmaq_n_f32(self, a, w)
        }
        #[inline(always)]
        unsafe fn load_i8(p: *const i8) -> Self {
            let bytes = vreinterpret_s8_s32(vdup_n_s32((p as *const i32).read_unaligned()));
            vcvtq_f32_s32(vmovl_s16(vget_low_s16(vmovl_s8(bytes))))
        }
    }

    pub(super) unsafe fn plane_neon(args: PlaneArgs<f32, f32>) {
        const ISA: Isa = Isa::Neon;
        plane::<float32x4_t, { ISA.channel_block() }, { ISA.point_block() / 4 }>(args)
    }

    pub(super) unsafe fn project_neon(args: ProjectionArgs) {
        const ISA: Isa = Isa::Neon;
        project_all::<float32x4_t, { ISA.projection_vectors() }, { Isa::PROJECTION_STEPS }>(args)
    }

    pub(super) unsafe fn matvec_neon(w: MatvecWeights, x: &[f32], out: &mut [f32]) {
        const ACC: usize = Isa::Neon.matvec_vectors();
        match w {
            MatvecWeights::F32(w) => matvec::<float32x4_t, f32, ACC>(w, x, out),
            MatvecWeights::I8(w) => matvec::<float32x4_t, i8, ACC>(w, x, out),
        }
    }
}
