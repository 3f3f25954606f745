//! Integer elementary functions for building the front end's tables and for the log.
//!
//! Everything here is exact integer arithmetic, so every platform gets the same bits. The only
//! committed constants are π and ln 2; sine, cosine, 2^x and log2 are computed from them with
//! series, repeated square roots and repeated squaring. None of this runs per sample except
//! [`log2_q24`], which costs about thirty 64×64-bit multiplies.

/// π · 2^61, rounded.
pub const PI_Q61: i128 = 7_244_019_458_077_122_842;
/// ln 2 · 2^62, rounded.
pub const LN2_Q62: i128 = 3_196_577_161_300_663_915;

/// Rounding arithmetic shift right (half rounds up) for `i128`.
#[inline]
pub const fn shr_round_i128(x: i128, s: u32) -> i128 {
    if s == 0 {
        x
    } else {
        (x + (1i128 << (s - 1))) >> s
    }
}

/// Rounding arithmetic shift right (half rounds up) for `i64`.
#[inline]
pub const fn shr_round_i64(x: i64, s: u32) -> i64 {
    if s == 0 {
        x
    } else {
        (x + (1i64 << (s - 1))) >> s
    }
}

/// Integer division rounding half away from zero; `den > 0`.
#[inline]
pub const fn div_round_i128(num: i128, den: i128) -> i128 {
    if num >= 0 {
        (num + den / 2) / den
    } else {
        -((-num + den / 2) / den)
    }
}

/// sin and cos of `turn / 2^32` of a full turn, in Q30 (2^30 = 1.0), rounded to nearest.
///
/// The angle is reduced to a quarter turn and evaluated with Taylor series to degree 27 in Q62
/// (truncation error below 1e-20), so the Q30 results are correctly rounded in practice.
pub fn sin_cos_turn_q30(turn: u32) -> (i32, i32) {
    let quadrant = turn >> 30;
    // Angle within the quadrant, θ = (frac / 2^30)·π/2, in Q62: frac · (π·2^61) / 2^30.
    let frac = (turn & ((1 << 30) - 1)) as i128;
    let theta = (frac * PI_Q61) >> 30;
    let (s, c) = sin_cos_q62(theta);
    let (s, c) = match quadrant {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    };
    (shr_round_i128(s, 32) as i32, shr_round_i128(c, 32) as i32)
}

/// sin and cos of θ ∈ [0, π/2] given in Q62, results in Q62.
fn sin_cos_q62(theta: i128) -> (i128, i128) {
    const ONE: i128 = 1 << 62;
    let x2 = (theta * theta) >> 62;
    // Horner: sin = x·(1 − x²/(2·3)·(1 − x²/(4·5)·(…))), cos = 1 − x²/(1·2)·(1 − x²/(3·4)·(…)).
    let mut s = ONE;
    let mut c = ONE;
    for k in (1..=13i128).rev() {
        s = ONE - div_round_i128((x2 * s) >> 62, (2 * k) * (2 * k + 1));
        c = ONE - div_round_i128((x2 * c) >> 62, (2 * k - 1) * (2 * k));
    }
    ((theta * s) >> 62, c)
}

/// Integer square root: ⌊√x⌋.
pub fn isqrt_u128(x: u128) -> u128 {
    if x < 2 {
        return x;
    }
    // Newton's method from an over-estimate converges monotonically down to ⌊√x⌋.
    let bits = 128 - x.leading_zeros();
    let mut r: u128 = 1 << bits.div_ceil(2);
    loop {
        let next = (r + x / r) >> 1;
        if next >= r {
            return r;
        }
        r = next;
    }
}

/// log2(x) in Q24 (2^24 = 1.0) for x ≥ 1, by repeated squaring of the normalised mantissa.
///
/// Each squaring yields one exact bit of the fraction; 26 bits are computed and rounded to 24.
/// The mantissa is Q62 in a u64, so each squaring is one 64×64→128-bit multiply.
pub fn log2_q24(x: u128) -> i64 {
    debug_assert!(x > 0);
    let int_part = 127 - x.leading_zeros() as i64;
    let mut m: u64 = if int_part >= 62 {
        (x >> (int_part - 62)) as u64
    } else {
        (x << (62 - int_part)) as u64
    };
    let mut frac: i64 = 0;
    for _ in 0..26 {
        let sq = (m as u128 * m as u128) >> 62;
        frac <<= 1;
        if sq >= 2 << 62 {
            m = (sq >> 1) as u64;
            frac |= 1;
        } else {
            m = sq as u64;
        }
    }
    (int_part << 24) + ((frac + 2) >> 2)
}

/// log2 by table: log2(1 + i/1024) in Q30 for i = 0..=1024 (made with [`log2_q40`]), with
/// linear interpolation on the next 32 mantissa bits. Interpolation error is below 2e-7, far
/// under the Q16 output step, and it costs a handful of operations instead of 26 squarings.
#[derive(Debug, Clone)]
pub struct Log2Table {
    table: Vec<i64>,
}

const LOG_TABLE_BITS: u32 = 10;

impl Default for Log2Table {
    fn default() -> Self {
        Self::new()
    }
}

impl Log2Table {
    pub fn new() -> Self {
        let n = 1u128 << LOG_TABLE_BITS;
        let table = (0..=n)
            .map(|i| {
                // log2((n + i)/n) = log2(n + i) − 10, in Q40 → Q30.
                let q40 = log2_q40(n + i) - ((LOG_TABLE_BITS as i128) << 40);
                shr_round_i128(q40, 10) as i64
            })
            .collect();
        Self { table }
    }

    pub fn words(&self) -> &[i64] {
        &self.table
    }

    /// log2(x) in Q24 for x ≥ 1.
    pub fn log2_q24(&self, x: u128) -> i64 {
        let int_part = 127 - x.leading_zeros();
        // 42 fraction bits below the leading one: 10 index the table, 32 interpolate.
        let m: u64 = if int_part >= 42 {
            (x >> (int_part - 42)) as u64
        } else {
            (x << (42 - int_part)) as u64
        } & ((1 << 42) - 1);
        let index = (m >> 32) as usize;
        let t = (m & 0xffff_ffff) as i64;
        let (a, b) = (self.table[index], self.table[index + 1]);
        let frac_q30 = a + (((b - a) * t + (1 << 31)) >> 32);
        ((int_part as i64) << 24) + ((frac_q30 + (1 << 5)) >> 6)
    }
}

/// log2(x) in Q40 for x ≥ 1 (table building only; 42 squarings).
pub fn log2_q40(x: u128) -> i128 {
    let int_part = 127 - x.leading_zeros() as i128;
    let mut m: u128 = if int_part >= 62 {
        x >> (int_part - 62)
    } else {
        x << (62 - int_part)
    };
    let mut frac: i128 = 0;
    for _ in 0..42 {
        m = (m * m) >> 62;
        frac <<= 1;
        if m >= 2 << 62 {
            m >>= 1;
            frac |= 1;
        }
    }
    (int_part << 40) + ((frac + 2) >> 2)
}

/// 2^y for y ≥ 0 given in Q40, returned in Q40. Table building only.
///
/// The fraction is a product of 2^(2^-k) factors, each made by repeated integer square roots.
pub fn exp2_q40(y: i128) -> i128 {
    assert!(y >= 0, "exp2_q40 takes a non-negative exponent");
    let int_part = (y >> 40) as u32;
    let frac = y & ((1 << 40) - 1);
    // roots[k] = 2^(2^-(k+1)) in Q62.
    let mut roots = [0u128; 40];
    let mut r: u128 = isqrt_u128(2u128 << 124);
    for root in roots.iter_mut() {
        *root = r;
        r = isqrt_u128(r << 62);
    }
    let mut acc: u128 = 1 << 62;
    for (k, root) in roots.iter().enumerate() {
        if frac & (1 << (39 - k)) != 0 {
            acc = (acc * root) >> 62;
        }
    }
    // Q62 → Q40, then the integer part as a shift.
    let q40 = (acc + (1 << 21)) >> 22;
    (q40 << int_part) as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sine_and_cosine_match_f64_to_q30_rounding() {
        let mut worst = 0.0f64;
        for i in 0..4096u64 {
            let turn = (i * 1_048_573) as u32 ^ (i as u32).wrapping_mul(2_654_435_761);
            let (s, c) = sin_cos_turn_q30(turn);
            let a = turn as f64 / 4_294_967_296.0 * std::f64::consts::TAU;
            let scale = (1u64 << 30) as f64;
            worst = worst
                .max((s as f64 - a.sin() * scale).abs())
                .max((c as f64 - a.cos() * scale).abs());
        }
        assert!(worst <= 1.0, "worst error {worst} LSB of Q30");
        assert_eq!(sin_cos_turn_q30(0), (0, 1 << 30));
        assert_eq!(sin_cos_turn_q30(1 << 30), (1 << 30, 0));
        assert_eq!(sin_cos_turn_q30(1 << 31), (0, -(1 << 30)));
    }

    #[test]
    fn integer_square_root_is_floor() {
        for x in [
            0u128,
            1,
            2,
            3,
            4,
            15,
            16,
            17,
            1 << 100,
            (1 << 100) - 1,
            u128::MAX,
        ] {
            let r = isqrt_u128(x);
            assert!(r * r <= x, "{x}");
            assert!((r + 1).checked_mul(r + 1).is_none_or(|sq| sq > x), "{x}");
        }
    }

    #[test]
    fn log2_matches_f64() {
        for x in [
            1u128,
            2,
            3,
            5,
            10,
            1000,
            123_456_789,
            1 << 70,
            (1 << 100) + 12345,
        ] {
            let want = (x as f64).log2();
            let got24 = log2_q24(x) as f64 / (1u64 << 24) as f64;
            let got40 = log2_q40(x) as f64 / (1u64 << 40) as f64;
            assert!((got24 - want).abs() < 1e-7, "{x}: {got24} vs {want}");
            assert!((got40 - want).abs() < 1e-11, "{x}: {got40} vs {want}");
        }
    }

    #[test]
    fn log_table_matches_the_exact_log() {
        let table = Log2Table::new();
        let mut x: u128 = 1;
        while x < 1 << 100 {
            let d = (table.log2_q24(x) - log2_q24(x)).abs();
            assert!(
                d <= 4,
                "{x}: table {} exact {}",
                table.log2_q24(x),
                log2_q24(x)
            );
            x = x * 3 + 7;
        }
        assert_eq!(table.log2_q24(1), 0);
        assert_eq!(table.log2_q24(1 << 40), 40 << 24);
    }

    #[test]
    fn exp2_matches_f64() {
        for y in [0.0f64, 0.5, 1.0, 2.678, 5.3219, 10.999] {
            let q = (y * (1u64 << 40) as f64) as i128;
            let got = exp2_q40(q) as f64 / (1u64 << 40) as f64;
            let want = (q as f64 / (1u64 << 40) as f64).exp2();
            assert!((got / want - 1.0).abs() < 1e-11, "{y}: {got} vs {want}");
        }
    }
}
