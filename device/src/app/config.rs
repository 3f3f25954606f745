//! The board's configuration file (`s2i run --config FILE`): TOML, every key known (a typo is
//! an error, not a silently ignored setting), every error naming the file, the key and the
//! problem. `deploy/handheld.toml` and `deploy/kiosk.toml` are the reference examples.
//!
//! Relative paths (`bundle`, `wav_files`, a PNG display's `path`) are relative to the folder
//! of the configuration file, so a unit file can point at a config anywhere.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub mode: Mode,
    /// The model bundle folder.
    pub bundle: PathBuf,
    /// Seed of the first picture for new speech; regenerating adds 1 each time.
    #[serde(default)]
    pub seed: u64,
    /// Stop after this generator stage (1 = the 64² preview): a slow board's shortcut.
    #[serde(default)]
    pub last_stage: Option<usize>,
    /// Which of the bundle's networks to run: "f32" (default) or "int8" (bundles exported with
    /// --int8; faster only where the CPU has fast integer dot products, see the README).
    #[serde(default)]
    pub precision: Option<s2i_shared::bundle::Precision>,
    pub audio: AudioConfig,
    pub display: DisplayConfig,
    /// Push-to-talk (handheld only).
    #[serde(default)]
    pub button: Option<ButtonConfig>,
    /// Kiosk timing (kiosk only; defaults when absent).
    #[serde(default)]
    pub kiosk: Option<KioskConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Hold the button to talk, release to draw; a short press redraws with the next seed.
    Handheld,
    /// Always listening; speech ends after `silence_ms`; the picture stays `hold_seconds`.
    Kiosk,
}

/// Longest recording, seconds, when `max_seconds` is not given.
pub const DEFAULT_MAX_SECONDS: f64 = 8.0;

fn default_max_seconds() -> f64 {
    DEFAULT_MAX_SECONDS
}

fn default_device() -> String {
    "default".into()
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase", deny_unknown_fields)]
pub enum AudioConfig {
    /// A cpal input: "default", or a substring of the input's name.
    Microphone {
        #[serde(default = "default_device")]
        device: String,
        #[serde(default = "default_max_seconds")]
        max_seconds: f64,
    },
    /// Replays `wav_files` in turn, one per recording: a bench demo without a microphone.
    Wav {
        wav_files: Vec<PathBuf>,
        #[serde(default = "default_max_seconds")]
        max_seconds: f64,
    },
}

impl AudioConfig {
    /// Longer recordings are refused (see `app::Problem::TooLong`).
    pub fn max_seconds(&self) -> f64 {
        match self {
            Self::Microphone { max_seconds, .. } | Self::Wav { max_seconds, .. } => *max_seconds,
        }
    }
}

/// The panel, as the display backends are built from it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DisplayConfig {
    /// An SPI TFT (mipidsi over spidev, control lines on a GPIO chip).
    Spi(SpiConfig),
    /// A Linux framebuffer (HDMI, DSI, or an fbtft panel).
    Framebuffer(FramebufferConfig),
    /// Every screen written to a PNG file (headless boards, tests).
    Png(PngConfig),
}

impl DisplayConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Spi(_) => "spi",
            Self::Framebuffer(_) => "framebuffer",
            Self::Png(_) => "png",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Controller {
    St7789,
    Ili9341,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpiConfig {
    pub controller: Controller,
    pub width: u16,
    pub height: u16,
    pub spidev: PathBuf,
    pub speed_hz: u32,
    /// SPI mode 0..=3 (default 0; CS-less ST7789 modules want 3).
    #[serde(default)]
    pub spi_mode: u8,
    /// Label of the GPIO chip carrying dc, reset and backlight (not its /dev number).
    pub gpio_chip: String,
    pub dc: u32,
    #[serde(default)]
    pub reset: Option<u32>,
    #[serde(default)]
    pub backlight: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FramebufferConfig {
    pub device: PathBuf,
}

/// Size of a PNG "screen" when not given: a common small TFT's.
pub const DEFAULT_PNG_SIZE: (u32, u32) = (320, 240);

fn default_png_width() -> u32 {
    DEFAULT_PNG_SIZE.0
}

fn default_png_height() -> u32 {
    DEFAULT_PNG_SIZE.1
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PngConfig {
    pub path: PathBuf,
    #[serde(default = "default_png_width")]
    pub width: u32,
    #[serde(default = "default_png_height")]
    pub height: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ButtonConfig {
    Gpio(GpioButtonConfig),
    /// The Enter key on stdin (a desktop).
    Enter(EnterConfig),
}

fn default_true() -> bool {
    true
}

fn default_debounce_ms() -> u64 {
    30
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpioButtonConfig {
    /// Chip label (`gpiodetect`): "pinctrl-bcm2711" on a Pi 4, "pinctrl-rp1" on a Pi 5.
    pub gpio_chip: String,
    pub line: u32,
    #[serde(default = "default_true")]
    pub active_low: bool,
    #[serde(default = "default_debounce_ms")]
    pub debounce_ms: u64,
}

/// No settings; a struct so that stray keys are still refused.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterConfig {}

fn default_silence_ms() -> u32 {
    800
}

fn default_hold_seconds() -> f64 {
    20.0
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskConfig {
    #[serde(default = "default_silence_ms")]
    pub silence_ms: u32,
    #[serde(default = "default_hold_seconds")]
    pub hold_seconds: f64,
}

impl Default for KioskConfig {
    fn default() -> Self {
        Self {
            silence_ms: default_silence_ms(),
            hold_seconds: default_hold_seconds(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: s2i_shared::input_file::OpenError,
    },
    /// TOML syntax, an unknown key, a wrong type: the parser's message names line and key.
    #[error("{path}: {message}")]
    Parse { path: String, message: String },
    #[error("{path}: `{key}`: {problem}")]
    Invalid {
        path: String,
        key: String,
        problem: String,
    },
}

/// Longest recording the front end accepts (its `max_duration_ms`), seconds.
const FRONTEND_MAX_SECONDS: f64 = 20.0;

/// Largest configuration file read (the examples are about 1 KB).
pub const MAX_CONFIG_BYTES: u64 = 64 << 10;

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        use s2i_shared::input_file::{read_bounded, Links, OpenError};
        let label = path.display().to_string();
        let read = |source| ConfigError::Read {
            path: label.clone(),
            source,
        };
        let bytes = read_bounded(path, Links::Follow, MAX_CONFIG_BYTES).map_err(read)?;
        let text = String::from_utf8(bytes).map_err(|_| {
            read(OpenError::Io(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not UTF-8 text",
            )))
        })?;
        let base = path.parent().unwrap_or(Path::new(""));
        Self::parse(&text, &label, base)
    }

    /// Parses and checks `text`; `label` names it in errors, relative paths join `base`.
    pub fn parse(text: &str, label: &str, base: &Path) -> Result<Self, ConfigError> {
        let mut config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: label.into(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate(label)?;
        config.resolve(base);
        Ok(config)
    }

    /// Kiosk settings, defaults filled in.
    pub fn kiosk(&self) -> KioskConfig {
        self.kiosk.clone().unwrap_or_default()
    }

    fn validate(&self, label: &str) -> Result<(), ConfigError> {
        let invalid = |key: &str, problem: String| {
            Err(ConfigError::Invalid {
                path: label.into(),
                key: key.into(),
                problem,
            })
        };
        match (self.mode, &self.button, &self.kiosk) {
            (Mode::Handheld, None, _) => {
                return invalid(
                    "button",
                    "handheld mode needs a [button] section (kind = \"gpio\" or \"enter\")".into(),
                )
            }
            (Mode::Handheld, _, Some(_)) => {
                return invalid(
                    "kiosk",
                    "the [kiosk] section is for mode = \"kiosk\"; remove it or change the mode"
                        .into(),
                )
            }
            (Mode::Kiosk, Some(_), _) => {
                return invalid(
                    "button",
                    "a kiosk listens all the time and uses no button; remove [button] or use \
                     mode = \"handheld\""
                        .into(),
                )
            }
            _ => {}
        }
        let max = self.audio.max_seconds();
        if !(max > 0.0 && max <= FRONTEND_MAX_SECONDS) {
            return invalid(
                "audio.max_seconds",
                format!("{max} must be above 0 and at most {FRONTEND_MAX_SECONDS} (the front end's limit)"),
            );
        }
        if let AudioConfig::Wav { wav_files, .. } = &self.audio {
            if wav_files.is_empty() {
                return invalid("audio.wav_files", "list at least one wav file".into());
            }
        }
        if self.last_stage == Some(0) {
            return invalid("last_stage", "stages count from 1 (1 = 64²)".into());
        }
        match &self.display {
            DisplayConfig::Spi(s) if s.width == 0 || s.height == 0 => {
                return invalid("display.width", "width and height must be positive".into())
            }
            DisplayConfig::Spi(s) if s.speed_hz == 0 => {
                return invalid("display.speed_hz", "must be positive".into())
            }
            DisplayConfig::Spi(s) if s.spi_mode > 3 => {
                return invalid(
                    "display.spi_mode",
                    format!("{} is not one of 0..=3", s.spi_mode),
                )
            }
            DisplayConfig::Spi(s) => {
                let controller = match s.controller {
                    Controller::St7789 => crate::display::Controller::St7789,
                    Controller::Ili9341 => crate::display::Controller::Ili9341,
                };
                if let Err(problem) =
                    crate::display::spi::Panel::new(controller, s.width as u32, s.height as u32)
                {
                    return invalid("display.width", problem);
                }
            }
            DisplayConfig::Png(p) if p.width == 0 || p.height == 0 => {
                return invalid("display.width", "width and height must be positive".into())
            }
            DisplayConfig::Png(p)
                if p.width > crate::display::png::MAX_SIDE
                    || p.height > crate::display::png::MAX_SIDE =>
            {
                return invalid(
                    "display.width",
                    format!(
                        "a {}x{} screen is not possible (1..={} each side)",
                        p.width,
                        p.height,
                        crate::display::png::MAX_SIDE
                    ),
                )
            }
            _ => {}
        }
        if let Some(ButtonConfig::Gpio(g)) = &self.button {
            if g.debounce_ms > 1000 {
                return invalid(
                    "button.debounce_ms",
                    format!(
                        "{} ms would swallow real presses; use 5..=100",
                        g.debounce_ms
                    ),
                );
            }
        }
        if let Some(k) = &self.kiosk {
            if !(50..=10_000).contains(&k.silence_ms) {
                return invalid(
                    "kiosk.silence_ms",
                    format!("{} must be in 50..=10000", k.silence_ms),
                );
            }
            if !(k.hold_seconds > 0.0 && k.hold_seconds <= 3600.0) {
                return invalid(
                    "kiosk.hold_seconds",
                    format!("{} must be above 0 and at most 3600", k.hold_seconds),
                );
            }
        }
        Ok(())
    }

    fn resolve(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.bundle);
        if let AudioConfig::Wav { wav_files, .. } = &mut self.audio {
            wav_files.iter_mut().for_each(join);
        }
        if let DisplayConfig::Png(p) = &mut self.display {
            join(&mut p.path);
        }
    }
}
