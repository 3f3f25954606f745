//! A source that plays given sample buffers, for tests: each take is one buffer, optionally
//! failing part-way with a given error (a microphone unplugged mid-sentence). Reading a chunk
//! advances the shared clock by its duration, as a live device would take that long.

use std::sync::Arc;
use std::time::Duration;

use super::{AudioError, Source};
use crate::clock::Clock;

/// One recording: samples at the source's rate, and an error to raise once `fail_at` samples
/// have been read.
pub struct Take {
    pub samples: Vec<i16>,
    pub failure: Option<(usize, AudioError)>,
}

impl Take {
    pub fn new(samples: Vec<i16>) -> Self {
        Self {
            samples,
            failure: None,
        }
    }

    pub fn failing_at(mut self, at: usize, error: AudioError) -> Self {
        self.failure = Some((at, error));
        self
    }
}

pub struct ScriptedSource {
    name: String,
    rate: u32,
    chunk: usize,
    takes: Box<dyn Iterator<Item = Take>>,
    current: Option<(Take, usize)>,
    clock: Arc<dyn Clock>,
}

impl ScriptedSource {
    /// Takes are pulled lazily, so a long soak script need not sit in memory.
    pub fn new<I>(rate: u32, takes: I, clock: Arc<dyn Clock>) -> Self
    where
        I: IntoIterator<Item = Take>,
        I::IntoIter: 'static,
    {
        Self {
            name: "scripted microphone".into(),
            rate,
            chunk: rate as usize / 50,
            takes: Box::new(takes.into_iter()),
            current: None,
            clock,
        }
    }
}

impl Source for ScriptedSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn start(&mut self) -> Result<(), AudioError> {
        let take = self
            .takes
            .next()
            .ok_or_else(|| AudioError::Exhausted(self.name.clone()))?;
        self.current = Some((take, 0));
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Vec<i16>>, AudioError> {
        let Some((take, pos)) = &mut self.current else {
            return Ok(None);
        };
        let mut end = (*pos + self.chunk).min(take.samples.len());
        if let Some((at, _)) = &take.failure {
            if *pos >= *at {
                let (_, error) = take.failure.take().expect("checked above");
                self.current = None;
                return Err(error);
            }
            end = end.min(*at);
        }
        if *pos >= end {
            return Ok(None);
        }
        let chunk = take.samples[*pos..end].to_vec();
        *pos = end;
        self.clock.sleep(Duration::from_nanos(
            chunk.len() as u64 * 1_000_000_000 / self.rate as u64,
        ));
        Ok(Some(chunk))
    }

    fn stop(&mut self) {
        self.current = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn plays_takes_in_order_advancing_time_and_fails_where_told() {
        let clock = ManualClock::new();
        let takes = vec![
            Take::new(vec![1; 500]),
            Take::new(vec![2; 1000]).failing_at(
                400,
                AudioError::Lost {
                    device: "mic".into(),
                    message: "gone".into(),
                },
            ),
        ];
        let mut s = ScriptedSource::new(16_000, takes, Arc::new(clock.clone()));
        s.start().unwrap();
        let mut n = 0;
        while let Some(c) = s.read().unwrap() {
            assert!(c.iter().all(|&v| v == 1));
            n += c.len();
        }
        assert_eq!(n, 500);
        assert_eq!(clock.now(), Duration::from_nanos(500 * 62_500));
        s.start().unwrap();
        let mut n = 0;
        let err = loop {
            match s.read() {
                Ok(Some(c)) => n += c.len(),
                Ok(None) => panic!("the take should fail first"),
                Err(e) => break e,
            }
        };
        assert_eq!(n, 400);
        assert!(err.to_string().contains("unplugged"), "{err}");
        assert!(matches!(s.start(), Err(AudioError::Exhausted(_))));
    }
}
