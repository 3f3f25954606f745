//! A live microphone through cpal (ALSA on Linux): the device's default input configuration,
//! any sample format and channel count turned into 16-bit mono in the audio callback, then the
//! shared resampler (streamed) to the front end's rate.
//!
//! The callback only converts and sends; `read` waits for the next chunk. A stream error
//! (unplugged, driver failure) or [`STALL`] without audio ends the take with
//! [`AudioError::Lost`], so the app can say so and carry on.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{ErrorKind, SampleFormat, SizedSample, SupportedStreamConfig};
use s2i_shared::frontend::{FrontendConfig, SUPPORTED_INPUT_RATES};

use super::{AudioError, Source, StreamResampler};

/// A live input that delivers nothing for this long has gone.
pub const STALL: Duration = Duration::from_secs(2);

enum Message {
    Samples(Vec<i16>),
    Failed { fatal: bool, message: String },
}

struct Live {
    /// Dropping the stream stops the capture.
    _stream: cpal::Stream,
    rx: Receiver<Message>,
    resampler: StreamResampler,
}

pub struct MicrophoneSource {
    device: cpal::Device,
    name: String,
    config: FrontendConfig,
    live: Option<Live>,
}

fn device_name(device: &cpal::Device) -> String {
    // `Display` of a cpal device can fail (it asks the backend), so ask for the description.
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|e| format!("(unnamed input: {e})"))
}

/// Names of the audio inputs cpal's default host sees (empty when it sees none).
pub fn input_names() -> Vec<String> {
    cpal::default_host()
        .input_devices()
        .map(|devices| devices.map(|d| device_name(&d)).collect())
        .unwrap_or_default()
}

/// One line per input: name and default configuration, for `s2i devices`.
pub fn describe_inputs() -> Vec<String> {
    let host = cpal::default_host();
    let default = host.default_input_device().map(|d| device_name(&d));
    let Ok(devices) = host.input_devices() else {
        return Vec::new();
    };
    devices
        .map(|d| {
            let name = device_name(&d);
            let config = match d.default_input_config() {
                Ok(c) => format!(
                    "{} Hz, {} channel(s), {}",
                    c.sample_rate(),
                    c.channels(),
                    c.sample_format()
                ),
                Err(e) => format!("no default input configuration ({e})"),
            };
            let mark = if Some(&name) == default.as_ref() {
                " [default]"
            } else {
                ""
            };
            format!("{name}{mark}: {config}")
        })
        .collect()
}

impl MicrophoneSource {
    /// The default input when `wanted` is "default" (or empty), otherwise the first input whose
    /// name contains `wanted` (case-insensitive).
    pub fn open(wanted: &str, config: &FrontendConfig) -> Result<Self, AudioError> {
        let host = cpal::default_host();
        let device = if wanted.is_empty() || wanted.eq_ignore_ascii_case("default") {
            host.default_input_device()
                .ok_or_else(|| AudioError::NoInput {
                    available: input_names(),
                })?
        } else {
            let needle = wanted.to_lowercase();
            host.input_devices()
                .map_err(|e| AudioError::Device {
                    device: "audio host".into(),
                    message: format!("cannot list inputs to find \"{wanted}\": {e}"),
                })?
                .find(|d| device_name(d).to_lowercase().contains(&needle))
                .ok_or_else(|| AudioError::NoMatchingInput {
                    wanted: wanted.into(),
                    available: input_names(),
                })?
        };
        Ok(Self {
            name: device_name(&device),
            device,
            config: config.clone(),
            live: None,
        })
    }

    /// The configuration recording would use, found without starting a stream (`run --check`).
    pub fn probe(&self) -> Result<String, AudioError> {
        let config = self.choose_config()?;
        Ok(format!(
            "audio: {}: {} Hz, {} channel(s), {}",
            self.name,
            config.sample_rate(),
            config.channels(),
            config.sample_format()
        ))
    }

    fn fail(&self, message: impl std::fmt::Display) -> AudioError {
        AudioError::Device {
            device: self.name.clone(),
            message: message.to_string(),
        }
    }

    /// The default input configuration, or, when its rate is one the resampler lacks, the
    /// closest configuration at a supported rate (16 kHz first: no resampling at all).
    fn choose_config(&self) -> Result<SupportedStreamConfig, AudioError> {
        let default = self
            .device
            .default_input_config()
            .map_err(|e| self.fail(format!("no input configuration: {e}")))?;
        if SUPPORTED_INPUT_RATES.contains(&default.sample_rate()) {
            return Ok(default);
        }
        let ranges: Vec<_> = self
            .device
            .supported_input_configs()
            .map_err(|e| self.fail(format!("cannot list configurations: {e}")))?
            .collect();
        let mut preferred = vec![self.config.sample_rate, 48_000, 44_100];
        preferred.extend(SUPPORTED_INPUT_RATES);
        for rate in preferred {
            if let Some(c) = ranges.iter().find_map(|r| r.try_with_sample_rate(rate)) {
                return Ok(c);
            }
        }
        Err(self.fail(format!(
            "records at {} Hz only; the front end's resampler takes {:?} Hz",
            default.sample_rate(),
            SUPPORTED_INPUT_RATES
        )))
    }

    fn build<T>(
        &self,
        config: &SupportedStreamConfig,
        tx: Sender<Message>,
    ) -> Result<cpal::Stream, cpal::Error>
    where
        T: SizedSample,
        i16: cpal::FromSample<T>,
    {
        let channels = config.channels().max(1) as usize;
        let err_tx = tx.clone();
        self.device.build_input_stream::<T, _, _>(
            config.config(),
            move |data: &[T], _| {
                let mono = data
                    .chunks(channels)
                    .map(|frame| {
                        let sum: i32 = frame.iter().map(|&s| s.to_sample::<i16>() as i32).sum();
                        // Rounded mean of the channels, as the wav reader mixes them.
                        let n = frame.len() as i32;
                        (sum + n / 2).div_euclid(n) as i16
                    })
                    .collect();
                let _ = tx.send(Message::Samples(mono));
            },
            move |e: cpal::Error| {
                let fatal = !matches!(
                    e.kind(),
                    ErrorKind::Xrun | ErrorKind::DeviceChanged | ErrorKind::RealtimeDenied
                );
                let _ = err_tx.send(Message::Failed {
                    fatal,
                    message: e.to_string(),
                });
            },
            None,
        )
    }
}

impl Source for MicrophoneSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn sample_rate(&self) -> u32 {
        self.config.sample_rate
    }

    fn start(&mut self) -> Result<(), AudioError> {
        self.live = None;
        let config = self.choose_config()?;
        let resampler = StreamResampler::for_frontend(&self.config, config.sample_rate())
            .ok_or_else(|| self.fail("unsupported sample rate"))?;
        let (tx, rx) = mpsc::channel();
        let stream = match config.sample_format() {
            SampleFormat::I8 => self.build::<i8>(&config, tx),
            SampleFormat::I16 => self.build::<i16>(&config, tx),
            SampleFormat::I24 => self.build::<cpal::I24>(&config, tx),
            SampleFormat::I32 => self.build::<i32>(&config, tx),
            SampleFormat::I64 => self.build::<i64>(&config, tx),
            SampleFormat::U8 => self.build::<u8>(&config, tx),
            SampleFormat::U16 => self.build::<u16>(&config, tx),
            SampleFormat::U24 => self.build::<cpal::U24>(&config, tx),
            SampleFormat::U32 => self.build::<u32>(&config, tx),
            SampleFormat::U64 => self.build::<u64>(&config, tx),
            SampleFormat::F32 => self.build::<f32>(&config, tx),
            SampleFormat::F64 => self.build::<f64>(&config, tx),
            other => return Err(self.fail(format!("sample format {other} is not audio PCM"))),
        }
        .map_err(|e| self.fail(format!("cannot open the input stream: {e}")))?;
        stream
            .play()
            .map_err(|e| self.fail(format!("cannot start recording: {e}")))?;
        log::info!(
            "{}: recording at {} Hz, {} channel(s), {}",
            self.name,
            config.sample_rate(),
            config.channels(),
            config.sample_format()
        );
        self.live = Some(Live {
            _stream: stream,
            rx,
            resampler,
        });
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Vec<i16>>, AudioError> {
        let name = self.name.clone();
        let lost = |message: String| AudioError::Lost {
            device: name.clone(),
            message,
        };
        let Some(live) = &mut self.live else {
            return Ok(None);
        };
        loop {
            let message = match live.rx.recv_timeout(STALL) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    self.live = None;
                    return Err(lost(format!("no audio for {} s", STALL.as_secs())));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.live = None;
                    return Err(lost("the audio stream closed".into()));
                }
            };
            match message {
                Message::Samples(samples) => {
                    let out = live.resampler.push(&samples);
                    if !out.is_empty() {
                        return Ok(Some(out));
                    }
                }
                Message::Failed {
                    fatal: false,
                    message,
                } => {
                    log::warn!("{name}: {message}");
                }
                Message::Failed {
                    fatal: true,
                    message,
                } => {
                    self.live = None;
                    return Err(lost(message));
                }
            }
        }
    }

    fn stop(&mut self) {
        self.live = None;
    }
}
