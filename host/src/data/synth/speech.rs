//! Spoken captions through espeak-ng: many English voices and variants, rates and pitches.
//!
//! One espeak-ng process per caption (about 20 ms each here), its `--stdout` wav captured and
//! rewritten with a correct header: espeak-ng leaves the streamed header's sizes at 0x7fffffff,
//! and with `-w` it exits 0 even when it cannot write the file.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Environment variable naming the espeak-ng program to run instead of `espeak-ng` on `PATH`.
pub const PROGRAM_ENV: &str = "S2I_ESPEAK_NG";

/// espeak-ng's English voices (all shipped with the espeak-ng-data package, no mbrola).
const VOICES: [&str; 9] = [
    "en",
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
];

/// Voice variants: formant sets for male, female and character voices ("" = the plain voice).
const VARIANTS: [&str; 22] = [
    "", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
    "klatt3", "croak", "Annie", "Alicia", "Andy", "belinda", "steph",
];

/// Accents and formant sets that no training caption uses: captions spoken with them test a
/// speech encoder on voices it never heard (`data synth --voices held-out`).
const HELD_OUT_VOICES: [&str; 2] = ["en-gb-x-gbcwmd", "en-029"];
const HELD_OUT_VARIANTS: [&str; 5] = ["m6", "f4", "klatt3", "Alicia", "steph"];

/// Which voices a set's captions are spoken in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum VoiceSet {
    /// Every voice and variant but the held-out ones.
    #[default]
    Training,
    /// Only held-out accents with held-out variants, for evaluation.
    HeldOut,
}

impl VoiceSet {
    fn voices(self) -> Vec<&'static str> {
        VOICES
            .iter()
            .copied()
            .filter(|v| HELD_OUT_VOICES.contains(v) == (self == VoiceSet::HeldOut))
            .collect()
    }

    fn variants(self) -> Vec<&'static str> {
        VARIANTS
            .iter()
            .copied()
            .filter(|v| HELD_OUT_VARIANTS.contains(v) == (self == VoiceSet::HeldOut))
            .collect()
    }
}

/// How one caption was spoken.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Voice {
    /// The `-v` argument, e.g. `en-gb+f3`.
    pub voice: String,
    /// Words per minute (`-s`).
    pub rate: u32,
    /// Pitch 0–99 (`-p`).
    pub pitch: u32,
}

impl Voice {
    pub fn sample(rng: &mut ChaCha8Rng, set: VoiceSet) -> Self {
        let base = set.voices().choose(rng).copied().unwrap_or("en");
        let variant = set.variants().choose(rng).copied().unwrap_or("");
        let voice = if variant.is_empty() {
            base.to_string()
        } else {
            format!("{base}+{variant}")
        };
        Self {
            voice,
            rate: rng.gen_range(130..=190),
            pitch: rng.gen_range(30..=70),
        }
    }
}

/// A located, working espeak-ng.
#[derive(Clone, Debug)]
pub struct Espeak {
    pub program: PathBuf,
    pub version: String,
}

impl Espeak {
    /// Finds espeak-ng through `S2I_ESPEAK_NG` or `PATH` and checks that it runs.
    pub fn locate() -> Result<Self> {
        let program = std::env::var_os(PROGRAM_ENV).unwrap_or_else(|| OsString::from("espeak-ng"));
        Self::locate_in(&program, std::env::var_os("PATH").as_deref())
    }

    /// Finds `program` (a path, or a name searched in `path_var`) and checks that it runs.
    pub fn locate_in(program: &OsStr, path_var: Option<&OsStr>) -> Result<Self> {
        let install = "install it with `sudo apt-get install espeak-ng` \
                       (or point S2I_ESPEAK_NG at the program)";
        let found = if Path::new(program).components().count() > 1 {
            let p = PathBuf::from(program);
            p.is_file().then_some(p)
        } else {
            path_var
                .map(std::env::split_paths)
                .into_iter()
                .flatten()
                .map(|dir| dir.join(program))
                .find(|p| is_executable(p))
        };
        let Some(program) = found else {
            bail!(
                "espeak-ng is needed to speak the captions but {:?} was not found on PATH; {install}",
                program
            );
        };
        let out = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {} ({install})", program.display()))?;
        if !out.status.success() {
            bail!(
                "{} --version failed ({}): {}; {install}",
                program.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(Self { program, version })
    }

    /// Speaks `text` and returns 16-bit mono PCM and its sample rate.
    pub fn speak(&self, text: &str, voice: &Voice) -> Result<(Vec<i16>, u32)> {
        let out = Command::new(&self.program)
            .arg("--stdout")
            .args(["-v", &voice.voice])
            .args(["-s", &voice.rate.to_string()])
            .args(["-p", &voice.pitch.to_string()])
            .arg("--")
            .arg(text)
            .stdin(Stdio::null())
            .output()
            .with_context(|| {
                format!("cannot run {} for caption {text:?}", self.program.display())
            })?;
        if !out.status.success() {
            bail!(
                "espeak-ng failed ({}) on caption {text:?} with voice {}: {}",
                out.status,
                voice.voice,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        parse_wav(&out.stdout)
            .with_context(|| format!("espeak-ng's output for caption {text:?} ({})", voice.voice))
    }
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Reads a streamed RIFF/WAVE (16-bit PCM, mono) whose size fields may be placeholders.
fn parse_wav(bytes: &[u8]) -> Result<(Vec<i16>, u32)> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        bail!("not a RIFF/WAVE stream ({} bytes)", bytes.len());
    }
    let mut at = 12;
    let mut format = None;
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let len = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes")) as usize;
        let body = at + 8;
        if id == b"fmt " {
            if body + 16 > bytes.len() {
                bail!("truncated fmt chunk");
            }
            let f = &bytes[body..body + 16];
            let tag = u16::from_le_bytes([f[0], f[1]]);
            let channels = u16::from_le_bytes([f[2], f[3]]);
            let rate = u32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            let bits = u16::from_le_bytes([f[14], f[15]]);
            if tag != 1 || channels != 1 || bits != 16 {
                bail!(
                    "expected 16-bit mono PCM, got format {tag}, {channels} channels, {bits} bits"
                );
            }
            format = Some(rate);
            at = body + len;
        } else if id == b"data" {
            let rate = format.context("data chunk before fmt chunk")?;
            // The streamed length is a placeholder: take everything that arrived.
            let data = &bytes[body..];
            let samples: Vec<i16> = data
                .chunks_exact(2)
                .map(|b| i16::from_le_bytes([b[0], b[1]]))
                .collect();
            if samples.is_empty() {
                bail!("no audio samples");
            }
            return Ok((samples, rate));
        } else {
            at = body + len + (len & 1);
        }
    }
    bail!("no data chunk")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_espeak_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = Espeak::locate_in(OsStr::new("espeak-ng"), Some(dir.path().as_os_str()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sudo apt-get install espeak-ng"), "{err}");
        let err = Espeak::locate_in(OsStr::new("/nonexistent/espeak-ng"), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("sudo apt-get install espeak-ng"), "{err}");
    }

    #[test]
    fn failing_espeak_names_the_caption() {
        let Ok(es) = Espeak::locate() else {
            panic!(
                "espeak-ng must be installed for the synth tests (sudo apt-get install espeak-ng)"
            )
        };
        // espeak-ng exits 1 for a voice it does not have.
        let bad = Voice {
            voice: "zz".into(),
            rate: 150,
            pitch: 50,
        };
        match es.speak("a red bird", &bad) {
            Ok((pcm, _)) => panic!("espeak-ng spoke {} samples with voice zz", pcm.len()),
            Err(e) => {
                let err = format!("{e:#}");
                assert!(err.contains("a red bird") && err.contains("zz"), "{err}");
            }
        }
        let good = Voice {
            voice: "en+f3".into(),
            ..bad
        };
        let (pcm, rate) = es.speak("a red bird", &good).unwrap();
        assert!(rate > 8000 && pcm.len() > rate as usize / 4);
    }

    #[test]
    fn streamed_header_is_parsed() {
        let mut w = b"RIFF\xff\xff\xff\x7fWAVEfmt \x10\0\0\0\x01\0\x01\0\x22\x56\0\0\x44\xac\0\0\x02\0\x10\0data\xff\xff\xff\x7f".to_vec();
        w.extend_from_slice(&[1, 0, 2, 0, 3]);
        let (s, r) = parse_wav(&w).unwrap();
        assert_eq!((s, r), (vec![1, 2], 22050));
        assert!(parse_wav(b"nope").is_err());
    }
}
