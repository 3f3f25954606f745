//! Wav files as a source: each take plays the next file (a bench demo without a microphone, or
//! a batch run). Files are read by the shared wav reader and resampled by the shared
//! resampler, so a take is exactly what `s2i generate` would compute from the same file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use s2i_shared::frontend::resample::Resampler;
use s2i_shared::frontend::wav::read_wav_file;
use s2i_shared::frontend::FrontendConfig;

use super::{AudioError, Source};
use crate::clock::Clock;

/// Chunk length: 20 ms, about what a sound card hands over per period.
const CHUNK_MS: u64 = 20;

pub struct WavSource {
    files: Vec<PathBuf>,
    next: usize,
    repeat: bool,
    config: FrontendConfig,
    clock: Arc<dyn Clock>,
    name: String,
    /// Silence played before each file.
    lead_in: Duration,
    /// The take being played and the position in it.
    take: Option<(Vec<i16>, usize)>,
}

impl WavSource {
    /// Plays `files` in turn, one per take, and starts again from the first when `repeat`.
    /// Each chunk takes its own duration on `clock`, so a take lasts as long as the file.
    pub fn new(
        files: Vec<PathBuf>,
        repeat: bool,
        config: FrontendConfig,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            files,
            next: 0,
            repeat,
            config,
            clock,
            name: "wav files".into(),
            lead_in: Duration::ZERO,
            take: None,
        }
    }

    /// Plays `lead_in` of digital silence before each file: in kiosk mode a demo then shows
    /// the held picture and the attract screen before the next "visitor" speaks.
    pub fn with_lead_in(mut self, lead_in: Duration) -> Self {
        self.lead_in = lead_in;
        self
    }
}

impl Source for WavSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn start(&mut self) -> Result<(), AudioError> {
        self.take = None;
        if self.files.is_empty() || (!self.repeat && self.next >= self.files.len()) {
            return Err(AudioError::Exhausted(self.name.clone()));
        }
        let path = self.files[self.next % self.files.len()].clone();
        // Move on even when this file is refused, so one bad file cannot wedge the loop.
        self.next += 1;
        self.name = path.display().to_string();
        let audio = read_wav_file(&path, self.config.max_duration_ms)?;
        let c = &self.config;
        let mut samples = vec![0; (self.lead_in.as_secs_f64() * c.sample_rate as f64) as usize];
        samples.extend(
            Resampler::new(
                audio.sample_rate,
                c.sample_rate,
                c.resampler_zero_crossings,
                c.resampler_cutoff_permille,
            )
            .process(&audio.samples),
        );
        self.take = Some((samples, 0));
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Vec<i16>>, AudioError> {
        let Some((samples, pos)) = &mut self.take else {
            return Ok(None);
        };
        if *pos >= samples.len() {
            return Ok(None);
        }
        let n = (self.config.sample_rate as u64 * CHUNK_MS / 1000) as usize;
        let end = (*pos + n).min(samples.len());
        let chunk = samples[*pos..end].to_vec();
        *pos = end;
        self.clock.sleep(Duration::from_nanos(
            chunk.len() as u64 * 1_000_000_000 / self.config.sample_rate as u64,
        ));
        Ok(Some(chunk))
    }

    fn stop(&mut self) {
        self.take = None;
    }
}
