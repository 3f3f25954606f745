//! Where speech starts and ends in a live stream, for kiosk mode, decided by the front end's
//! own [`EnergyRule`] so that what the kiosk calls speech is what the front end will keep.
//!
//! Speech starts after [`START_MS`] of consecutive speech blocks (a click or a cough is
//! shorter) and ends after `silence_ms` of consecutive non-speech blocks. While speech lasts, a
//! block is judged against the loudest block since speech started, exactly as the trimmer
//! judges a whole utterance.

use s2i_shared::frontend::EnergyRule;

/// Consecutive speech needed before the detector calls it speech.
pub const START_MS: u32 = 50;

/// A boundary, at a sample index counted from the last [`SpeechDetector::reset`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechEvent {
    /// The first sample of the block that began the speech.
    Started { at: usize },
    /// The end of the block that completed `silence_ms` of silence.
    Ended { at: usize },
}

#[derive(Debug, Clone, Copy)]
enum State {
    Waiting { run: usize, run_peak: u64 },
    Speech { peak: u64, quiet: usize },
}

#[derive(Debug, Clone)]
pub struct SpeechDetector {
    rule: EnergyRule,
    block: usize,
    start_blocks: usize,
    silence_blocks: usize,
    /// Samples of an incomplete block, waiting for the rest.
    pending: Vec<i16>,
    /// Samples in the blocks judged so far.
    judged: usize,
    state: State,
}

impl SpeechDetector {
    /// `rate` is the rate of the samples pushed (the front end's, whose blocks the rule counts).
    pub fn new(rule: &EnergyRule, rate: u32, silence_ms: u32) -> Self {
        let block = rule.block_length();
        let blocks_for = |ms: u32| (ms as usize * rate as usize).div_ceil(1000 * block).max(1);
        Self {
            rule: rule.clone(),
            block,
            start_blocks: blocks_for(START_MS),
            silence_blocks: blocks_for(silence_ms),
            pending: Vec::with_capacity(block),
            judged: 0,
            state: State::Waiting {
                run: 0,
                run_peak: 0,
            },
        }
    }

    pub fn reset(&mut self) {
        self.pending.clear();
        self.judged = 0;
        self.state = State::Waiting {
            run: 0,
            run_peak: 0,
        };
    }

    pub fn in_speech(&self) -> bool {
        matches!(self.state, State::Speech { .. })
    }

    /// Feeds samples; returns the boundaries they complete, in order.
    pub fn push(&mut self, samples: &[i16]) -> Vec<SpeechEvent> {
        let mut events = Vec::new();
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (self.block - self.pending.len()).min(rest.len());
            self.pending.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.pending.len() == self.block {
                let energy = EnergyRule::block_energy(&self.pending);
                self.pending.clear();
                if let Some(e) = self.judge(energy) {
                    events.push(e);
                }
                self.judged += self.block;
            }
        }
        events
    }

    fn judge(&mut self, energy: u64) -> Option<SpeechEvent> {
        match &mut self.state {
            State::Waiting { run, run_peak } => {
                let peak = (*run_peak).max(energy);
                if self.rule.is_speech(energy, peak) {
                    *run += 1;
                    *run_peak = peak;
                    if *run >= self.start_blocks {
                        let at = self.judged + self.block - *run * self.block;
                        self.state = State::Speech { peak, quiet: 0 };
                        return Some(SpeechEvent::Started { at });
                    }
                } else {
                    *run = 0;
                    *run_peak = 0;
                }
                None
            }
            State::Speech { peak, quiet } => {
                *peak = (*peak).max(energy);
                if self.rule.is_speech(energy, *peak) {
                    *quiet = 0;
                    return None;
                }
                *quiet += 1;
                if *quiet >= self.silence_blocks {
                    self.state = State::Waiting {
                        run: 0,
                        run_peak: 0,
                    };
                    return Some(SpeechEvent::Ended {
                        at: self.judged + self.block,
                    });
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s2i_shared::frontend::TrimConfig;

    fn square(n: usize, amp: i16) -> Vec<i16> {
        (0..n)
            .map(|i| if i % 2 == 0 { amp } else { -amp })
            .collect()
    }

    fn feed(d: &mut SpeechDetector, x: &[i16], chunk: usize) -> Vec<SpeechEvent> {
        x.chunks(chunk).flat_map(|c| d.push(c)).collect()
    }

    #[test]
    fn finds_start_and_end_whatever_the_chunking() {
        let rule = EnergyRule::new(&TrimConfig::default());
        let mut x = vec![0i16; 8_000];
        x.extend(square(16_000, 5_000));
        x.extend(vec![0i16; 16_000]);
        for chunk in [1, 7, 160, 333, 4_096] {
            let mut d = SpeechDetector::new(&rule, 16_000, 800);
            let events = feed(&mut d, &x, chunk);
            // Speech begins at sample 8000; 800 ms = 80 blocks of silence end it.
            assert_eq!(
                events,
                [
                    SpeechEvent::Started { at: 8_000 },
                    SpeechEvent::Ended {
                        at: 24_000 + 80 * 160
                    }
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn clicks_and_quiet_rooms_are_not_speech_and_pauses_shorter_than_silence_ms_do_not_end_it() {
        let rule = EnergyRule::new(&TrimConfig::default());
        let mut d = SpeechDetector::new(&rule, 16_000, 800);
        // A 30 ms click, then a quiet room (RMS 60 < 104).
        let mut x = vec![0i16; 1_600];
        x.extend(square(480, 20_000));
        x.extend(square(16_000, 60));
        assert!(feed(&mut d, &x, 320).is_empty());
        assert!(!d.in_speech());
        // Speech, a 500 ms pause, more speech: one utterance still going.
        let mut y = square(8_000, 20_000);
        y.extend(vec![0i16; 8_000]);
        y.extend(square(8_000, 20_000));
        let events = feed(&mut d, &y, 320);
        assert_eq!(events.len(), 1);
        assert!(matches!(events[0], SpeechEvent::Started { .. }));
        assert!(d.in_speech());
        // RMS 150 is above the absolute floor but 42 dB below the speech: silence by the relative
        // rule.
        // It ends 800 ms into the tail (which starts at sample 18 080 + 24 000).
        let tail = square(12_800, 150);
        let events = feed(&mut d, &tail, 320);
        assert_eq!(
            events,
            [SpeechEvent::Ended {
                at: 42_080 + 12_800
            }]
        );
    }
}
