//! The shared resampler on a live stream, giving exactly the samples it gives the whole
//! recording, so a microphone take and the same sound in a wav file reach the front end as the
//! same bits.
//!
//! [`Resampler::process`] works on a whole signal, treating samples beyond either end as zero.
//! Output `j` depends only on inputs `⌊jM/L⌋ − half + 1 ..= ⌊jM/L⌋ + half`, so it is final as
//! soon as those have arrived. The stream keeps the inputs the next outputs still need,
//! starting at a multiple of `M` so the polyphase pattern of a window is the whole signal's
//! pattern shifted by whole periods, and runs the shared `process` on that window.

use s2i_shared::frontend::resample::Resampler;
use s2i_shared::frontend::{FrontendConfig, SUPPORTED_INPUT_RATES};

#[derive(Debug, Clone)]
pub struct StreamResampler {
    resampler: Resampler,
    up: usize,
    down: usize,
    half: usize,
    /// Inputs from absolute index `window_start` on.
    window: Vec<i16>,
    window_start: usize,
    total_in: usize,
    next_out: usize,
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

impl StreamResampler {
    pub fn new(resampler: Resampler) -> Self {
        let (input, output) = (
            resampler.input_rate() as usize,
            resampler.output_rate() as usize,
        );
        let g = gcd(input, output);
        let (up, down) = (output / g, input / g);
        let taps = resampler.coefficients().len() / up;
        Self {
            resampler,
            up,
            down,
            half: taps / 2,
            window: Vec::new(),
            window_start: 0,
            total_in: 0,
            next_out: 0,
        }
    }

    /// The front end's resampler from `input_rate`; `None` for a rate it does not support.
    pub fn for_frontend(c: &FrontendConfig, input_rate: u32) -> Option<Self> {
        if !SUPPORTED_INPUT_RATES.contains(&input_rate) {
            return None;
        }
        Some(Self::new(Resampler::new(
            input_rate,
            c.sample_rate,
            c.resampler_zero_crossings,
            c.resampler_cutoff_permille,
        )))
    }

    pub fn input_rate(&self) -> u32 {
        self.resampler.input_rate()
    }

    /// Feeds input; returns every output sample that is now final.
    pub fn push(&mut self, input: &[i16]) -> Vec<i16> {
        if self.up == 1 && self.down == 1 {
            // Same rate: the shared resampler copies, and so does the stream.
            self.total_in += input.len();
            self.next_out = self.total_in;
            return input.to_vec();
        }
        self.window.extend_from_slice(input);
        self.total_in += input.len();
        if self.total_in < self.half + 1 {
            return Vec::new();
        }
        // Output j is final when ⌊jM/L⌋ + half ≤ total_in − 1.
        let last_base = self.total_in - 1 - self.half;
        let end = ((last_base + 1) * self.up).div_ceil(self.down);
        self.emit(end)
    }

    /// The outputs that need the zeros past the end of the take; then starts a new take.
    pub fn finish(&mut self) -> Vec<i16> {
        let end = (self.total_in * self.up).div_ceil(self.down);
        let out = self.emit(end);
        self.reset();
        out
    }

    pub fn reset(&mut self) {
        self.window.clear();
        self.window_start = 0;
        self.total_in = 0;
        self.next_out = 0;
    }

    fn emit(&mut self, end: usize) -> Vec<i16> {
        if end <= self.next_out {
            return Vec::new();
        }
        let first_local = self.window_start / self.down * self.up;
        let local = self.resampler.process(&self.window);
        let out = local[self.next_out - first_local..end - first_local].to_vec();
        self.next_out = end;
        // Keep what output `next_out` needs, from a multiple of M.
        let needed = (self.next_out * self.down / self.up + 1).saturating_sub(self.half);
        let available = self.window_start + self.window.len();
        let start = needed.min(available) / self.down * self.down;
        if start > self.window_start {
            self.window.drain(..start - self.window_start);
            self.window_start = start;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repeatable mix of tones and noise.
    fn signal(n: usize, seed: u64) -> Vec<i16> {
        let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        (0..n)
            .map(|i| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((state >> 33) % 4001) as i64 - 2000;
                let tone = ((i as i64 * 37) % 2000) * 8 - 8000;
                (noise + tone) as i16
            })
            .collect()
    }

    #[test]
    fn streamed_output_equals_whole_signal_output_for_every_rate_and_chunking() {
        let frontend = FrontendConfig::default();
        for rate in SUPPORTED_INPUT_RATES {
            let whole_resampler = StreamResampler::for_frontend(&frontend, rate)
                .unwrap()
                .resampler;
            let x = signal(rate as usize * 3 / 10, rate as u64);
            let want = whole_resampler.process(&x);
            for chunk in [1usize, 97, 480, 1024, 5000] {
                let mut s = StreamResampler::for_frontend(&frontend, rate).unwrap();
                let mut got = Vec::new();
                // Uneven chunks, as a sound card delivers them.
                let mut i = 0;
                let mut k = 0;
                while i < x.len() {
                    let n = (chunk + k % 3).min(x.len() - i);
                    got.extend(s.push(&x[i..i + n]));
                    i += n;
                    k += 1;
                }
                got.extend(s.finish());
                assert_eq!(got.len(), want.len(), "rate {rate} chunk {chunk}");
                assert!(got == want, "rate {rate} chunk {chunk}: samples differ");
                // The window stays short: a live stream does not keep the whole take.
                assert!(s.window.is_empty());
            }
        }
    }

    #[test]
    fn the_window_stays_bounded_while_streaming() {
        let frontend = FrontendConfig::default();
        let mut s = StreamResampler::for_frontend(&frontend, 44_100).unwrap();
        let x = signal(44_100, 1);
        for c in x.chunks(441) {
            s.push(c);
            assert!(s.window.len() < 441 + 2 * s.half + 2 * s.down);
        }
        assert!(StreamResampler::for_frontend(&frontend, 12_345).is_none());
    }
}
