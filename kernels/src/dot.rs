//! The integer direct convolution's inner loop: 8-bit dot products into 32-bit lanes
//! (`vpdpbusd`, `sdot`), once per instruction set that has them, through the f32 kernel's own
//! loop ([`plane`](crate::simd::plane)).
//!
//! Each 32-bit lane holds one output point and sums four input channels at once, so the input
//! is laid out in channel quads and every weight load is the four bytes of one quad, broadcast.
//! x86's `vpdpbusd` multiplies unsigned input bytes by signed weights, so there the input is
//! offset by 128 ([`DotIsa::input_offset`]); Arm's `sdot` multiplies signed by signed.

use crate::simd::PlaneArgs;

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

/// What one channel block's int8 computation reads and writes: [`plane`](crate::simd::plane)'s arguments with
/// one word of four channel bytes (the int8 value plus the path's input offset) per input point,
/// the weights as the four signed bytes of one quad packed little-endian in an `i32`, and each
/// channel's sum starting at `-offset · Σ w` (undoing the input's offset).
pub(crate) type DotPlaneArgs<'a> = PlaneArgs<'a, u32, i32>;

/// The i32 vectors' [`Accumulator`](crate::simd::Accumulator), per instruction set.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_macros)
)]
macro_rules! dot_accumulator {
    ($v:ty, $n:expr, $set1:ident, $load:expr, $store:expr, $dot:expr) => {
        impl crate::simd::Accumulator for $v {
            const N: usize = $n;
            type Input = u32;
            type Value = i32;
            #[inline(always)]
            unsafe fn splat_value(x: i32) -> Self {
                $set1(x)
            }
            #[inline(always)]
            unsafe fn load_input(p: *const u32) -> Self {
                $load(p)
            }
            #[inline(always)]
            unsafe fn store_value(self, p: *mut i32) {
                $store(p, self)
            }
            #[inline(always)]
            unsafe fn accumulate(self, x: Self, w: i32) -> Self {
                $dot(self, x, $set1(w))
            }
        }
    };
}

/// Runs [`plane`](crate::simd::plane) with `isa`'s blocking.
///
/// # Safety
/// `isa` must run on this CPU (one of [`DotIsa::available`]), and the slices must hold what
/// [`PlaneArgs`] says, with `points >= isa.point_block()`.
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
    use super::{DotIsa, DotPlaneArgs};
    use crate::simd::plane;
    use std::arch::x86_64::*;

    dot_accumulator!(
        __m512i,
        16,
        _mm512_set1_epi32,
        |p: *const u32| _mm512_loadu_si512(p as *const _),
        |p: *mut i32, v| _mm512_storeu_si512(p as *mut _, v),
        _mm512_dpbusd_epi32
    );
    dot_accumulator!(
        __m256i,
        8,
        _mm256_set1_epi32,
        |p: *const u32| _mm256_loadu_si256(p as *const __m256i),
        |p: *mut i32, v| _mm256_storeu_si256(p as *mut __m256i, v),
        _mm256_dpbusd_avx_epi32
    );

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
    use super::{DotIsa, DotPlaneArgs};
    use crate::simd::plane;
    use std::arch::aarch64::*;

    /// `sdot`: `vdotq_s32` is not stable Rust yet; the instruction is (Armv8.2 dotprod).
    #[inline(always)]
    unsafe fn sdot(acc: int32x4_t, a: int32x4_t, w: int32x4_t) -> int32x4_t {
        let mut acc = acc;
        core::arch::asm!(
            "sdot {acc:v}.4s, {a:v}.16b, {w:v}.16b",
            acc = inout(vreg) acc,
            a = in(vreg) a,
            w = in(vreg) w,
            options(pure, nomem, nostack)
        );
        acc
    }

    dot_accumulator!(
        int32x4_t,
        4,
        vdupq_n_s32,
        |p: *const u32| vld1q_s32(p as *const i32),
        |p: *mut i32, v| vst1q_s32(p, v),
        sdot
    );

    #[target_feature(enable = "neon,dotprod")]
    pub(super) unsafe fn plane_neondot(args: DotPlaneArgs) {
        const ISA: DotIsa = DotIsa::NeonDot;
        plane::<int32x4_t, { ISA.channel_block() }, { ISA.point_block() / 4 }>(args)
    }
}
