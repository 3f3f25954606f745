//! Reading wav files into 16-bit mono, with integer-only conversions.
//!
//! 8/16/24/32-bit PCM and 32-bit float are accepted. Wider PCM is rounded to 16 bits (half
//! up), float is scaled by 2^15 and rounded half to even by bit manipulation (no float rounding
//! functions, which may call libm on some targets), and channels are averaged with integer
//! rounding.
//!
//! A header is a claim, not a fact: the channel count, the rate and the declared duration are
//! checked against what the front end can use before any sample is read, memory is reserved for
//! at most the mono result of the longest accepted recording, and channels are mixed frame by
//! frame as the samples stream in.

use std::io::Read;
use std::path::Path;

use super::config::SUPPORTED_INPUT_RATES;
use super::error::{FrontendError, Problem, SupportedRates};
use crate::input_file::{open_regular, Links, OpenError};

/// Most channels read (a 7.1 file has 8, a microphone array a few more). With the duration
/// limit it bounds the bytes one file makes the reader go through.
pub const MAX_CHANNELS: u16 = 32;

/// Mono 16-bit audio at its original rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audio {
    pub sample_rate: u32,
    pub samples: Vec<i16>,
}

impl Audio {
    pub fn duration_ms(&self) -> u64 {
        if self.sample_rate == 0 {
            return 0;
        }
        self.samples.len() as u64 * 1000 / self.sample_rate as u64
    }
}

/// Reads a wav file. `max_duration_ms` bounds the declared length (a 10-minute recording is
/// refused before it is read into memory). Anything but a regular file (a FIFO, a device, a
/// directory) is refused by its kind.
pub fn read_wav_file(path: &Path, max_duration_ms: u32) -> Result<Audio, FrontendError> {
    let name = path.display().to_string();
    let (file, len) = open_regular(path, Links::Follow).map_err(|e| {
        FrontendError::new(
            &name,
            match e {
                OpenError::Io(e) => Problem::Io(e),
                OpenError::Special(kind) => Problem::NotRegular(kind),
                other => Problem::Io(std::io::Error::other(other.to_string())),
            },
        )
    })?;
    if len == 0 {
        return Err(FrontendError::new(name, Problem::Empty));
    }
    read_wav(std::io::BufReader::new(file), &name, max_duration_ms)
}

/// Reads wav bytes; `name` labels errors.
pub fn read_wav_bytes(
    bytes: &[u8],
    name: &str,
    max_duration_ms: u32,
) -> Result<Audio, FrontendError> {
    if bytes.is_empty() {
        return Err(FrontendError::new(name, Problem::Empty));
    }
    read_wav(std::io::Cursor::new(bytes), name, max_duration_ms)
}

fn read_wav<R: Read>(reader: R, name: &str, max_duration_ms: u32) -> Result<Audio, FrontendError> {
    let fail = |p: Problem| FrontendError::new(name, p);
    let wav = hound::WavReader::new(reader).map_err(|e| fail(header_problem(e)))?;
    let spec = wav.spec();
    if spec.channels == 0 {
        return Err(fail(Problem::ZeroChannels));
    }
    if spec.channels > MAX_CHANNELS {
        return Err(fail(Problem::TooManyChannels {
            channels: spec.channels,
            limit: MAX_CHANNELS,
        }));
    }
    if spec.sample_rate == 0 {
        return Err(fail(Problem::NotWav(
            "the header declares a sample rate of 0".into(),
        )));
    }
    // Before the duration: at an absurd rate any number of samples is "short".
    if !SUPPORTED_INPUT_RATES.contains(&spec.sample_rate) {
        return Err(fail(Problem::UnsupportedRate {
            rate: spec.sample_rate,
            supported: SupportedRates,
        }));
    }
    let frames = wav.duration() as u64;
    let actual_ms = frames * 1000 / spec.sample_rate as u64;
    if actual_ms > max_duration_ms as u64 {
        return Err(fail(Problem::TooLong {
            actual_ms,
            limit_ms: max_duration_ms,
        }));
    }
    let declared = wav.len() as u64;
    // `frames` is now at most the limit at 48 kHz: a bounded reservation.
    let mut mix = Downmix::new(spec.channels, frames as usize);
    match (spec.sample_format, spec.bits_per_sample) {
        (hound::SampleFormat::Int, bits @ (8 | 16 | 24 | 32)) => {
            for s in wav.into_samples::<i32>() {
                let s = s.map_err(|e| fail(sample_problem(e, declared, mix.read)))?;
                mix.push(pcm_to_i16(s, bits));
            }
        }
        (hound::SampleFormat::Float, 32) => {
            for s in wav.into_samples::<f32>() {
                let s = s.map_err(|e| fail(sample_problem(e, declared, mix.read)))?;
                let v = f32_to_i16(s).ok_or(Problem::NonFiniteSample { index: mix.read });
                mix.push(v.map_err(fail)?);
            }
        }
        (format, bits) => {
            return Err(fail(Problem::UnsupportedEncoding(format!(
                "{bits}-bit {}",
                if format == hound::SampleFormat::Float {
                    "float"
                } else {
                    "integer"
                }
            ))))
        }
    }
    if mix.read < declared {
        return Err(fail(Problem::Truncated {
            declared,
            read: mix.read,
        }));
    }
    if mix.samples.is_empty() {
        return Err(fail(Problem::NoSamples));
    }
    Ok(Audio {
        sample_rate: spec.sample_rate,
        samples: mix.samples,
    })
}

/// Averages interleaved channels as they stream in, rounding half up; a trailing partial frame
/// is dropped.
struct Downmix {
    channels: i64,
    sum: i64,
    in_frame: i64,
    /// Interleaved samples pushed so far.
    read: u64,
    samples: Vec<i16>,
}

impl Downmix {
    fn new(channels: u16, frames: usize) -> Self {
        Self {
            channels: channels as i64,
            sum: 0,
            in_frame: 0,
            read: 0,
            samples: Vec::with_capacity(frames),
        }
    }

    fn push(&mut self, s: i16) {
        self.read += 1;
        self.sum += s as i64;
        self.in_frame += 1;
        if self.in_frame == self.channels {
            let n = self.channels;
            self.samples
                .push((2 * self.sum + n).div_euclid(2 * n) as i16);
            self.sum = 0;
            self.in_frame = 0;
        }
    }
}

fn header_problem(e: hound::Error) -> Problem {
    match e {
        hound::Error::Unsupported => Problem::UnsupportedEncoding(
            "a compressed or non-PCM format (e.g. A-law, mu-law, ADPCM)".into(),
        ),
        hound::Error::IoError(io) if is_short_read(&io) => {
            Problem::NotWav("the header is cut short".into())
        }
        hound::Error::IoError(io) => Problem::Io(io),
        hound::Error::FormatError(m) if m.contains("channel") => Problem::ZeroChannels,
        hound::Error::FormatError(m) if m.contains("bits per sample") => {
            Problem::UnsupportedEncoding(format!("a float format whose {m}"))
        }
        hound::Error::FormatError(m) => Problem::NotWav(m.to_string()),
        other => Problem::NotWav(other.to_string()),
    }
}

/// hound reports running out of bytes as `UnexpectedEof` or as an `Other` error with this text.
fn is_short_read(io: &std::io::Error) -> bool {
    io.kind() == std::io::ErrorKind::UnexpectedEof || io.to_string().contains("enough bytes")
}

fn sample_problem(e: hound::Error, declared: u64, read: u64) -> Problem {
    match e {
        hound::Error::IoError(io) if is_short_read(&io) => Problem::Truncated { declared, read },
        hound::Error::IoError(io) => Problem::Io(io),
        hound::Error::UnfinishedSample => Problem::Truncated { declared, read },
        other => Problem::NotWav(other.to_string()),
    }
}

/// PCM of `bits` bits (as hound reads it, sign-extended) to 16 bits, rounding half up.
fn pcm_to_i16(s: i32, bits: u16) -> i16 {
    let v = match bits {
        8 => (s as i64) << 8,
        16 => s as i64,
        b => (s as i64 + (1i64 << (b - 17))) >> (b - 16),
    };
    v.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// A float sample in [-1, 1] to 16 bits: × 2^15, rounded half to even, saturated. `None` for
/// NaN and infinities.
pub fn f32_to_i16(x: f32) -> Option<i16> {
    let bits = x.to_bits();
    let negative = bits >> 31 == 1;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x7f_ffff;
    if exponent == 0xff {
        return None;
    }
    if exponent == 0 {
        return Some(0); // zero or subnormal: far below one step of 16-bit audio
    }
    // |x|·2^15 = m · 2^(exponent − 127 − 23 + 15) with the implicit leading one.
    let m = (mantissa | 0x80_0000) as i64;
    let shift = exponent - 135;
    let magnitude: i64 = if shift >= 0 {
        // |x| ≥ 2^(shift+8) ≥ 256: saturates whatever the shift.
        i64::MAX
    } else {
        let r = -shift;
        if r > 25 {
            0
        } else {
            let q = m >> r;
            let rem = m & ((1 << r) - 1);
            let half = 1i64 << (r - 1);
            if rem > half || (rem == half && q & 1 == 1) {
                q + 1
            } else {
                q
            }
        }
    };
    let v = if negative {
        -magnitude.min(1 << 20)
    } else {
        magnitude.min(1 << 20)
    };
    Some(v.clamp(i16::MIN as i64, i16::MAX as i64) as i16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn float_samples_round_half_to_even_and_saturate() {
        assert_eq!(f32_to_i16(0.0), Some(0));
        assert_eq!(f32_to_i16(-0.0), Some(0));
        assert_eq!(f32_to_i16(0.5), Some(16384));
        assert_eq!(f32_to_i16(-0.5), Some(-16384));
        assert_eq!(f32_to_i16(1.0), Some(32767));
        assert_eq!(f32_to_i16(-1.0), Some(-32768));
        assert_eq!(f32_to_i16(1e9), Some(32767));
        assert_eq!(f32_to_i16(-1e9), Some(-32768));
        // 2.5 / 32768 → 2 (even), 3.5 / 32768 → 4.
        assert_eq!(f32_to_i16(2.5 / 32768.0), Some(2));
        assert_eq!(f32_to_i16(3.5 / 32768.0), Some(4));
        assert_eq!(f32_to_i16(-3.5 / 32768.0), Some(-4));
        assert_eq!(f32_to_i16(f32::NAN), None);
        assert_eq!(f32_to_i16(f32::INFINITY), None);
        for i in -1000..1000 {
            let x = i as f32 * 0.000_977;
            let want = (x as f64 * 32768.0)
                .round_ties_even()
                .clamp(-32768.0, 32767.0) as i16;
            assert_eq!(f32_to_i16(x), Some(want), "{x}");
        }
    }

    #[test]
    fn wide_pcm_rounds_to_16_bits() {
        assert_eq!(pcm_to_i16(0x7f_ffff, 24), 32767);
        assert_eq!(pcm_to_i16(-0x80_0000, 24), -32768);
        assert_eq!(pcm_to_i16(0x80, 24), 1); // exactly half rounds up
        assert_eq!(pcm_to_i16(0x7f, 24), 0);
        assert_eq!(pcm_to_i16(i32::MAX, 32), 32767);
        assert_eq!(pcm_to_i16(-128, 8), -32768);
    }

    fn downmix(interleaved: &[i16], channels: u16) -> Vec<i16> {
        let mut mix = Downmix::new(channels, 0);
        interleaved.iter().for_each(|&s| mix.push(s));
        mix.samples
    }

    #[test]
    fn downmix_rounds_the_mean() {
        assert_eq!(downmix(&[1, 2, -1, -2, 3, 3], 2), vec![2, -1, 3]);
        assert_eq!(downmix(&[1, 1, 2, 7, 7], 3), vec![1]);
        assert_eq!(downmix(&[5, -7], 1), vec![5, -7]);
    }
}
