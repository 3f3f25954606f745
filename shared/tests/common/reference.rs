//! The front end's pipeline in f64 with rustfft and libm: the yardstick for the integer code.
//! Test and benchmark code only; nothing on the device path uses it.

use rustfft::num_complex::Complex;
use s2i_shared::frontend::FrontendConfig;

pub struct Reference {
    config: FrontendConfig,
    window: Vec<f64>,
    /// [n_mels][n_bins]
    weights: Vec<Vec<f64>>,
    fft: std::sync::Arc<dyn rustfft::Fft<f64>>,
}

fn hz_to_mel(f: f64) -> f64 {
    if f < 1000.0 {
        3.0 * f / 200.0
    } else {
        15.0 + (f / 1000.0).ln() / (6.4f64.ln() / 27.0)
    }
}

fn mel_to_hz(m: f64) -> f64 {
    if m < 15.0 {
        200.0 * m / 3.0
    } else {
        1000.0 * ((m - 15.0) * 6.4f64.ln() / 27.0).exp()
    }
}

impl Reference {
    pub fn new(config: &FrontendConfig) -> Self {
        let n = config.win_length;
        let window = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos())
            .collect();
        let n_bins = config.n_fft / 2 + 1;
        let (lo, hi) = (
            hz_to_mel(config.f_min_hz as f64),
            hz_to_mel(config.f_max_hz as f64),
        );
        let edges: Vec<f64> = (0..config.n_mels + 2)
            .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (config.n_mels + 1) as f64))
            .collect();
        let weights = (0..config.n_mels)
            .map(|m| {
                (0..n_bins)
                    .map(|k| {
                        let f = k as f64 * config.sample_rate as f64 / config.n_fft as f64;
                        let up = (f - edges[m]) / (edges[m + 1] - edges[m]);
                        let down = (edges[m + 2] - f) / (edges[m + 2] - edges[m + 1]);
                        up.min(down).max(0.0) * 2.0 / (edges[m + 2] - edges[m])
                    })
                    .collect()
            })
            .collect();
        let fft = rustfft::FftPlanner::new().plan_fft_forward(config.n_fft);
        Self {
            config: config.clone(),
            window,
            weights,
            fft,
        }
    }

    /// Log-mel in nats, band-major [n_mels][T], of 16 kHz samples (no trimming, no CMVN).
    pub fn log_mel(&self, samples: &[i16]) -> Vec<f64> {
        let c = &self.config;
        let frames = if samples.is_empty() {
            0
        } else {
            1 + samples.len() / c.hop_length
        };
        let half = (c.win_length / 2) as isize;
        let n = samples.len() as isize;
        let reflect = |i: isize| -> usize {
            if n == 1 {
                return 0;
            }
            let p = 2 * (n - 1);
            let j = i.rem_euclid(p);
            (if j >= n { p - j } else { j }) as usize
        };
        let floor = 2f64.powi(c.log_floor_log2);
        let mut out = vec![0.0; c.n_mels * frames];
        let mut buf = vec![Complex::new(0.0, 0.0); c.n_fft];
        for t in 0..frames {
            buf.iter_mut().for_each(|b| *b = Complex::new(0.0, 0.0));
            for i in 0..c.win_length {
                let s = samples[reflect((t * c.hop_length) as isize - half + i as isize)] as f64
                    / 32768.0;
                buf[i] = Complex::new(s * self.window[i], 0.0);
            }
            self.fft.process(&mut buf);
            for (m, w) in self.weights.iter().enumerate() {
                let mel: f64 = w.iter().zip(&buf).map(|(w, x)| w * x.norm_sqr()).sum();
                out[m * frames + t] = mel.max(floor).ln();
            }
        }
        out
    }
}
