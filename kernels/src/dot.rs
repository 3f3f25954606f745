//! The integer direct convolution's inner loop: 8-bit dot products into 32-bit lanes
//! (`vpdpbusd`), once per instruction set that has them.
//!
//! Each 32-bit lane holds one output point and sums four input channels at once, so the input
//! is laid out in channel quads and every weight load is the four bytes of one quad, broadcast.
//! x86's `vpdpbusd` multiplies unsigned input bytes by signed weights, so there the input is
//! offset by 128 ([`DotIsa::input_offset`]); Arm's `sdot` multiplies signed by signed.

/// The instruction set an integer direct convolution runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DotIsa {
    /// x86-64 AVX-512 VNNI: 16 points per vector, 8 output channels × 32 points in 16 zmm.
    Avx512Vnni,
    /// x86-64 AVX-VNNI (the VEX form): 8 points per vector, 4 channels × 24 points in 12 ymm.
    AvxVnni,
    /// AArch64 dot product (`sdot`, Armv8.2: Raspberry Pi 5, Jetson Orin; not the Pi 4's
    /// Cortex-A72): 4 points per vector, 4 channels × 16 points in 16 q registers.
    NeonDot,
}

impl DotIsa {
    /// The best path this CPU runs, or `None` (tract's own lowering stays).
    pub fn detect() -> Option<DotIsa> {
        Self::available().into_iter().next()
    }

    /// Every path this CPU can run, best first.
    pub fn available() -> Vec<DotIsa> {
        #[allow(unused_mut)]
        let mut v = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512vnni")
                && std::arch::is_x86_feature_detected!("avx512f")
            {
                v.push(DotIsa::Avx512Vnni);
            }
            if std::arch::is_x86_feature_detected!("avxvnni")
                && std::arch::is_x86_feature_detected!("avx2")
            {
                v.push(DotIsa::AvxVnni);
            }
        }
        #[cfg(target_arch = "aarch64")]
        if std::arch::is_aarch64_feature_detected!("dotprod") {
            v.push(DotIsa::NeonDot);
        }
        v
    }

    /// What the kernel adds to each int8 input byte: 128 where the instruction takes the input
    /// unsigned, 0 where it takes it signed.
    pub const fn input_offset(self) -> u8 {
        match self {
            DotIsa::Avx512Vnni | DotIsa::AvxVnni => 0x80,
            DotIsa::NeonDot => 0,
        }
    }

    /// Output channels computed together.
    pub const fn channel_block(self) -> usize {
        match self {
            DotIsa::Avx512Vnni => 8,
            DotIsa::AvxVnni | DotIsa::NeonDot => 4,
        }
    }

    /// Consecutive points of the (row-padded) output plane computed together.
    pub const fn point_block(self) -> usize {
        match self {
            DotIsa::Avx512Vnni => 32,
            DotIsa::AvxVnni => 24,
            DotIsa::NeonDot => 16,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DotIsa::Avx512Vnni => "avx512vnni",
            DotIsa::AvxVnni => "avxvnni",
            DotIsa::NeonDot => "neon+dotprod",
        }
    }
}

/// What one channel block's computation reads and writes; see [`plane`].
pub(crate) struct DotPlaneArgs<'a> {
    /// The padded input as bytes (`x` plus the path's input offset), `[quad][point][4 channels]`: `quads`
    /// planes of `plane` points, plus the slack the last block's widest tap reads past the end.
    pub input: &'a [u8],
    pub quads: usize,
    pub plane: usize,
    /// Offset of each kernel tap from an output point, in points of the padded plane.
    pub taps: &'a [usize],
    /// The block's weights as `[quad][tap][channel_block]`, each the four signed bytes of one
    /// quad packed little-endian in an `i32`.
    pub weights: &'a [i32],
    /// Per channel: what the accumulation starts from (`-offset · Σ w`, undoing the input's
    /// offset).
    pub start: &'a [i32],
    /// The block's output planes, `channel_block` of `points` values each.
    pub out: &'a mut [i32],
    pub points: usize,
}

/// A vector of i32 lanes that accumulates 8-bit dot products.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
trait DotLanes: Copy {
    const N: usize;
    unsafe fn splat(x: i32) -> Self;
    /// `N` lanes of four input bytes each.
    unsafe fn load(p: *const u8) -> Self;
    unsafe fn store(self, p: *mut i32);
    /// Each lane plus the dot product of its four input bytes of `a` with the four signed
    /// bytes of `w`.
    unsafe fn dot(self, a: Self, w: i32) -> Self;
}

/// The integer convolution over one plane, `CO` channels × `XV` vectors of points per step:
/// the same blocking as the f32 kernel (`simd::plane`), four input channels per instruction.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
#[inline(always)]
unsafe fn plane<V: DotLanes, const CO: usize, const XV: usize>(a: DotPlaneArgs) {
    let block = XV * V::N;
    debug_assert!(a.points >= block);
    debug_assert!(a.input.len() >= a.quads * a.plane * 4);
    debug_assert!(a.weights.len() >= a.quads * a.taps.len() * CO);
    debug_assert!(a.start.len() == CO && a.out.len() >= CO * a.points);
    let input = a.input.as_ptr();
    let out = a.out.as_mut_ptr();
    let mut first = 0;
    while first < a.points {
        // The last block is moved back to end at the last point, as in the f32 kernel.
        let p = first.min(a.points - block);
        let mut acc = [[V::splat(0); XV]; CO];
        for (row, &s) in acc.iter_mut().zip(a.start) {
            *row = [V::splat(s); XV];
        }
        let mut w = a.weights.as_ptr();
        for q in 0..a.quads {
            let base = input.add((q * a.plane + p) * 4);
            for &tap in a.taps {
                let at = base.add(tap * 4);
                let mut x = [V::splat(0); XV];
                for (v, xv) in x.iter_mut().enumerate() {
                    *xv = V::load(at.add(v * V::N * 4));
                }
                for (j, row) in acc.iter_mut().enumerate() {
                    let wj = *w.add(j);
                    for v in 0..XV {
                        row[v] = row[v].dot(x[v], wj);
                    }
                }
                w = w.add(CO);
            }
        }
        for (j, row) in acc.iter().enumerate() {
            let o = out.add(j * a.points + p);
            for (v, xv) in row.iter().enumerate() {
                xv.store(o.add(v * V::N));
            }
        }
        first += block;
    }
}

/// Runs [`plane`] with `isa`'s blocking.
///
/// # Safety
/// `isa` must run on this CPU (one of [`DotIsa::available`]), and the slices must hold what
/// [`DotPlaneArgs`] says, with `points >= isa.point_block()`.
pub(crate) unsafe fn run(isa: DotIsa, args: DotPlaneArgs) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        DotIsa::Avx512Vnni => x86::plane_avx512vnni(args),
        #[cfg(target_arch = "x86_64")]
        DotIsa::AvxVnni => x86::plane_avxvnni(args),
        #[cfg(target_arch = "aarch64")]
        DotIsa::NeonDot => arm::plane_neondot(args),
        #[allow(unreachable_patterns)]
        other => {
            let _ = args;
            unreachable!("{} is not an instruction set of this build", other.name())
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{plane, DotIsa, DotLanes, DotPlaneArgs};
    use std::arch::x86_64::*;

    impl DotLanes for __m512i {
        const N: usize = 16;
        #[inline(always)]
        unsafe fn splat(x: i32) -> Self {
            _mm512_set1_epi32(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const u8) -> Self {
            _mm512_loadu_si512(p as *const _)
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut i32) {
            _mm512_storeu_si512(p as *mut _, self)
        }
        #[inline(always)]
        unsafe fn dot(self, a: Self, w: i32) -> Self {
            _mm512_dpbusd_epi32(self, a, _mm512_set1_epi32(w))
        }
    }

    impl DotLanes for __m256i {
        const N: usize = 8;
        #[inline(always)]
        unsafe fn splat(x: i32) -> Self {
            _mm256_set1_epi32(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const u8) -> Self {
            _mm256_loadu_si256(p as *const __m256i)
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut i32) {
            _mm256_storeu_si256(p as *mut __m256i, self)
        }
        #[inline(always)]
        unsafe fn dot(self, a: Self, w: i32) -> Self {
            _mm256_dpbusd_avx_epi32(self, a, _mm256_set1_epi32(w))
        }
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    pub(super) unsafe fn plane_avx512vnni(args: DotPlaneArgs) {
        const ISA: DotIsa = DotIsa::Avx512Vnni;
        plane::<__m512i, { ISA.channel_block() }, { ISA.point_block() / 16 }>(args)
    }

    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn plane_avxvnni(args: DotPlaneArgs) {
        const ISA: DotIsa = DotIsa::AvxVnni;
        plane::<__m256i, { ISA.channel_block() }, { ISA.point_block() / 8 }>(args)
    }
}

#[cfg(target_arch = "aarch64")]
mod arm {
    use super::{plane, DotIsa, DotLanes, DotPlaneArgs};
    use std::arch::aarch64::*;

    impl DotLanes for int32x4_t {
        const N: usize = 4;
        #[inline(always)]
        unsafe fn splat(x: i32) -> Self {
            vdupq_n_s32(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const u8) -> Self {
            vld1q_s32(p as *const i32)
        }
        #[inline(always)]
        unsafe fn store(self, p: *mut i32) {
            vst1q_s32(p, self)
        }
        #[inline(always)]
        unsafe fn dot(self, a: Self, w: i32) -> Self {
            // `vdotq_s32` is not stable Rust yet; the instruction is (Armv8.2 dotprod).
            let mut acc = self;
            let w = vdupq_n_s32(w);
            core::arch::asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {w:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                w = in(vreg) w,
                options(pure, nomem, nostack)
            );
            acc
        }
    }

    #[target_feature(enable = "neon,dotprod")]
    pub(super) unsafe fn plane_neondot(args: DotPlaneArgs) {
        const ISA: DotIsa = DotIsa::NeonDot;
        plane::<int32x4_t, { ISA.channel_block() }, { ISA.point_block() / 4 }>(args)
    }
}
