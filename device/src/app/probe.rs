//! `s2i run --check`: opens every device a configuration names, the way `run` would, without
//! driving any of them: the panel gets no command and no pixel, no GPIO line is taken (each is
//! looked up and must be free), the microphone's configuration is read but no stream started.
//! What `run` would refuse, the check refuses, with the same message.

use std::path::Path;

use s2i_shared::frontend::Frontend;

use super::build::BuildError;
use super::config::{AudioConfig, ButtonConfig, Config, DisplayConfig};
use crate::display::{DisplayError, PngDisplay};

/// Opens what `config` names; one line per device says what was found.
pub fn open_devices(config: &Config, frontend: &Frontend) -> Result<Vec<String>, BuildError> {
    Ok(
        vec![display(config)?, audio(config, frontend)?, button(config)?]
            .into_iter()
            .flatten()
            .collect(),
    )
}

fn display(config: &Config) -> Result<Option<String>, BuildError> {
    let line = match &config.display {
        DisplayConfig::Png(p) => {
            PngDisplay::check(&p.path, p.width, p.height)?;
            writable_folder(&p.path)?;
            format!(
                "display: a {}x{} PNG screen written to {}",
                p.width,
                p.height,
                p.path.display()
            )
        }
        #[cfg(target_os = "linux")]
        DisplayConfig::Framebuffer(f) => {
            let fb = crate::display::FramebufferDisplay::open(&f.device)?;
            let g = fb.geometry();
            format!(
                "display: {}, {}x{} at {} bits per pixel",
                f.device.display(),
                g.xres,
                g.yres,
                g.bits_per_pixel
            )
        }
        #[cfg(target_os = "linux")]
        DisplayConfig::Spi(_) => crate::display::SpiDisplay::probe(
            &super::build::spi_config(config).expect("an SPI display"),
        )?,
        #[cfg(not(target_os = "linux"))]
        other => {
            return Err(BuildError::NotBuilt(format!(
                "display kind {} needs Linux",
                other.kind()
            )))
        }
    };
    Ok(Some(line))
}

/// The folder a PNG screen goes to can be written (or made): a file is created there and
/// removed, as each frame's temporary file will be.
fn writable_folder(path: &Path) -> Result<(), DisplayError> {
    let fail = |message: String| DisplayError::new(path.display().to_string(), message);
    let folder = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    // The nearest folder that exists: `run` creates the rest.
    let mut existing = folder.as_path();
    while !existing.exists() {
        existing = match existing.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
    }
    if !existing.is_dir() {
        return Err(fail(format!(
            "{} is not a folder, so the screen cannot be written below it",
            existing.display()
        )));
    }
    let probe = existing.join(format!(".s2i-check.{}.tmp", std::process::id()));
    std::fs::File::create(&probe)
        .map_err(|e| fail(format!("cannot write in {}: {e}", existing.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

fn audio(config: &Config, frontend: &Frontend) -> Result<Option<String>, BuildError> {
    match &config.audio {
        // Each file was read by `build::check`.
        AudioConfig::Wav { wav_files, .. } => Ok(Some(format!(
            "audio: {} wav file(s), each read",
            wav_files.len()
        ))),
        #[cfg(feature = "microphone")]
        AudioConfig::Microphone { device, .. } => Ok(Some(
            crate::audio::MicrophoneSource::open(device, frontend.config())?.probe()?,
        )),
        #[cfg(not(feature = "microphone"))]
        AudioConfig::Microphone { .. } => {
            let _ = frontend;
            Err(super::build::microphone_not_built())
        }
    }
}

fn button(config: &Config) -> Result<Option<String>, BuildError> {
    match &config.button {
        None => Ok(None),
        Some(ButtonConfig::Enter(_)) => Ok(Some("button: the Enter key on stdin".into())),
        #[cfg(target_os = "linux")]
        Some(ButtonConfig::Gpio(g)) => Ok(Some(crate::input::gpio::GpioButton::probe(
            &g.gpio_chip,
            g.line,
        )?)),
        #[cfg(not(target_os = "linux"))]
        Some(ButtonConfig::Gpio(_)) => Err(BuildError::NotBuilt(
            "button kind \"gpio\" needs Linux GPIO character devices".into(),
        )),
    }
}
