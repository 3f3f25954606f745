//! From a checked [`Config`] to running parts: settings, the audio source, the button, the
//! panel; and `s2i run`'s whole run.

use std::sync::Arc;
use std::time::Duration;

use s2i_shared::frontend::Frontend;

use super::config::{AudioConfig, ButtonConfig, Config, Controller, DisplayConfig, Mode};
use super::session::{Session, Settings, Summary};
use super::{handheld, kiosk};
use crate::audio::{AudioError, Source, WavSource};
use crate::clock::{Clock, SystemClock};
use crate::display::{Display, DisplayError, PngDisplay};
use crate::infer::{InferError, Pipeline};
use crate::input::{Button, EnterKey, InputError};

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("bundle {path}: {error}")]
    Bundle {
        path: String,
        error: Box<InferError>,
    },
    #[error("last_stage = {wanted}, but bundle {path} has stages 1..={stages}")]
    NoSuchStage {
        wanted: usize,
        path: String,
        stages: usize,
    },
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Button(#[from] InputError),
    #[error(transparent)]
    Display(#[from] DisplayError),
    /// A part this binary was built without.
    #[error("{0}")]
    NotBuilt(String),
}

/// The modes' settings from the configuration.
pub fn settings(config: &Config) -> Settings {
    let prompt = match (config.mode, &config.button) {
        (Mode::Kiosk, _) => "Describe a bird",
        (Mode::Handheld, Some(ButtonConfig::Enter(_))) => {
            "Press Enter, describe a bird, press Enter"
        }
        (Mode::Handheld, _) => "Hold the button and describe a bird",
    };
    Settings {
        seed: config.seed,
        last_stage: config.last_stage,
        max_recording: Duration::from_secs_f64(config.audio.max_seconds()),
        prompt: prompt.into(),
        ..Settings::default()
    }
}

/// Loads and verifies the bundle and checks the configuration against it: what
/// `s2i run --check` does before anything touches hardware.
pub fn check(config: &Config, frontend: &Frontend) -> Result<Pipeline, BuildError> {
    let path = config.bundle.display().to_string();
    let pipeline = Pipeline::load_precision(
        &config.bundle,
        frontend,
        config
            .precision
            .unwrap_or(s2i_shared::bundle::Precision::F32),
    )
    .map_err(|source| BuildError::Bundle {
        path: path.clone(),
        error: Box::new(source),
    })?;
    if let Some(wanted) = config.last_stage.filter(|&s| s > pipeline.stages()) {
        return Err(BuildError::NoSuchStage {
            wanted,
            path,
            stages: pipeline.stages(),
        });
    }
    if let AudioConfig::Wav { wav_files, .. } = &config.audio {
        for wav in wav_files {
            s2i_shared::frontend::wav::read_wav_file(wav, frontend.config().max_duration_ms)
                .map_err(AudioError::Wav)?;
        }
    }
    Ok(pipeline)
}

/// The configured audio source.
pub fn source(
    config: &Config,
    frontend: &Frontend,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn Source>, BuildError> {
    match &config.audio {
        AudioConfig::Wav { wav_files, .. } => {
            let source = WavSource::new(wav_files.clone(), true, frontend.config().clone(), clock);
            Ok(Box::new(match config.mode {
                // Past the hold, so each file's picture is seen before the next file speaks.
                Mode::Kiosk => {
                    source.with_lead_in(Duration::from_secs_f64(config.kiosk().hold_seconds + 2.0))
                }
                Mode::Handheld => source,
            }))
        }
        #[cfg(feature = "microphone")]
        AudioConfig::Microphone { device, .. } => Ok(Box::new(
            crate::audio::MicrophoneSource::open(device, frontend.config())?,
        )),
        #[cfg(not(feature = "microphone"))]
        AudioConfig::Microphone { .. } => Err(microphone_not_built()),
    }
}

/// A microphone configured for a binary built without one.
#[cfg(not(feature = "microphone"))]
pub fn microphone_not_built() -> BuildError {
    BuildError::NotBuilt(
        "audio source \"microphone\" needs a binary built with the `microphone` feature \
         (cargo build --release -p s2i-device --features microphone); \
         or use source = \"wav\""
            .into(),
    )
}

/// The SPI panel's wiring, when the display is one.
pub fn spi_config(config: &Config) -> Option<crate::display::SpiConfig> {
    let DisplayConfig::Spi(s) = &config.display else {
        return None;
    };
    Some(crate::display::SpiConfig {
        controller: match s.controller {
            Controller::St7789 => crate::display::Controller::St7789,
            Controller::Ili9341 => crate::display::Controller::Ili9341,
        },
        width: s.width as u32,
        height: s.height as u32,
        spidev: s.spidev.clone(),
        speed_hz: s.speed_hz,
        spi_mode: s.spi_mode,
        gpio_chip: s.gpio_chip.clone(),
        dc: s.dc,
        reset: s.reset,
        backlight: s.backlight,
    })
}

/// The configured push-to-talk button (handheld mode).
pub fn button(config: &Config) -> Result<Option<Box<dyn Button>>, BuildError> {
    match &config.button {
        None => Ok(None),
        Some(ButtonConfig::Enter(_)) => Ok(Some(Box::new(EnterKey::new()))),
        #[cfg(target_os = "linux")]
        Some(ButtonConfig::Gpio(g)) => Ok(Some(Box::new(crate::input::gpio::GpioButton::open(
            &g.gpio_chip,
            g.line,
            g.active_low,
            Duration::from_millis(g.debounce_ms),
        )?))),
        #[cfg(not(target_os = "linux"))]
        Some(ButtonConfig::Gpio(_)) => Err(BuildError::NotBuilt(
            "button kind \"gpio\" needs Linux GPIO character devices".into(),
        )),
    }
}

/// The configured panel.
pub fn display(config: &Config) -> Result<Box<dyn Display>, BuildError> {
    let panel: Box<dyn Display> = match &config.display {
        DisplayConfig::Png(p) => Box::new(PngDisplay::new(&p.path, p.width, p.height)?),
        #[cfg(target_os = "linux")]
        DisplayConfig::Framebuffer(f) => {
            Box::new(crate::display::FramebufferDisplay::open(&f.device)?)
        }
        #[cfg(target_os = "linux")]
        DisplayConfig::Spi(_) => Box::new(crate::display::SpiDisplay::open(
            &spi_config(config).expect("an SPI display"),
        )?),
        #[cfg(not(target_os = "linux"))]
        other => {
            return Err(BuildError::NotBuilt(format!(
                "display kind {} needs Linux",
                other.kind()
            )))
        }
    };
    Ok(panel)
}

/// `s2i run`: builds every part from `config` and runs its mode until the input ends.
pub fn run(config: &Config, frontend: &Frontend) -> Result<Summary, BuildError> {
    let pipeline = check(config, frontend)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::default());
    let mut display = display(config)?;
    let mut source = source(config, frontend, clock.clone())?;
    let mut button = button(config)?;
    let mut session = Session::new(
        &pipeline,
        frontend,
        display.as_mut(),
        clock,
        settings(config),
    );
    log::info!(
        "{:?} mode: bundle {}, audio from {}",
        config.mode,
        pipeline.manifest.bundle_id,
        source.name()
    );
    Ok(match (config.mode, button.as_deref_mut()) {
        (Mode::Handheld, Some(button)) => handheld::run(&mut session, source.as_mut(), button)?,
        (Mode::Handheld, None) => {
            return Err(BuildError::NotBuilt(
                "handheld mode needs a [button] section".into(),
            ))
        }
        (Mode::Kiosk, _) => kiosk::run(&mut session, source.as_mut(), &config.kiosk()),
    })
}
