//! `s2i devices`: what this board offers the firmware (audio inputs, framebuffers, SPI
//! devices, GPIO chips), to fill in a configuration file. Never fails: a machine without any of
//! them says so.

use std::fmt;
use std::path::{Path, PathBuf};

/// One section per kind of device, one line per device.
#[derive(Debug, Clone)]
pub struct Inventory {
    pub sections: Vec<(&'static str, Vec<String>, &'static str)>,
}

impl fmt::Display for Inventory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (title, lines, none) in &self.sections {
            writeln!(f, "{title}:")?;
            if lines.is_empty() {
                writeln!(f, "  {none}")?;
            }
            for line in lines {
                writeln!(f, "  {line}")?;
            }
        }
        Ok(())
    }
}

/// Looks at this machine.
pub fn inventory() -> Inventory {
    Inventory {
        sections: vec![
            ("audio inputs", audio_inputs(), audio_none()),
            (
                "framebuffers",
                framebuffers(Path::new("/dev"), Path::new("/sys/class/graphics")),
                "none (/dev/fb*)",
            ),
            (
                "SPI devices",
                entries(Path::new("/dev"), "spidev")
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect(),
                "none (/dev/spidev*; on a Pi enable SPI with dtparam=spi=on)",
            ),
            ("GPIO chips", gpio_chips(), "none (/dev/gpiochip*)"),
        ],
    }
}

#[cfg(feature = "microphone")]
fn audio_inputs() -> Vec<String> {
    crate::audio::microphone::describe_inputs()
}

#[cfg(not(feature = "microphone"))]
fn audio_inputs() -> Vec<String> {
    Vec::new()
}

fn audio_none() -> &'static str {
    if cfg!(feature = "microphone") {
        "none found (is a microphone plugged in?)"
    } else {
        "not listed: this binary was built without the `microphone` feature \
         (cargo build --release -p s2i-device --features microphone)"
    }
}

#[cfg(target_os = "linux")]
fn gpio_chips() -> Vec<String> {
    crate::input::gpio::list_chips()
        .into_iter()
        .map(|c| match c {
            Ok(info) => info.to_string(),
            Err(line) => line,
        })
        .collect()
}

#[cfg(not(target_os = "linux"))]
fn gpio_chips() -> Vec<String> {
    vec!["GPIO character devices exist on Linux only".into()]
}

/// Entries of `dir` whose names start with `prefix`, sorted.
fn entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// `/dev/fbN` with the geometry sysfs reports (readable without opening the device).
fn framebuffers(dev: &Path, sys: &Path) -> Vec<String> {
    entries(dev, "fb")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n[2..].chars().all(|c| c.is_ascii_digit()) && n.len() > 2)
        })
        .map(|path| {
            let name = path.file_name().expect("entries have names").to_owned();
            let attr = |a: &str| {
                std::fs::read_to_string(sys.join(&name).join(a))
                    .ok()
                    .map(|s| s.trim().to_string())
            };
            let mut line = path.display().to_string();
            if let Some(driver) = attr("name") {
                line += &format!(" ({driver})");
            }
            match (attr("virtual_size"), attr("bits_per_pixel"), attr("stride")) {
                (Some(size), Some(bpp), stride) => {
                    line += &format!(": {} px, {bpp} bpp", size.replace(',', "×"));
                    if let Some(stride) = stride {
                        line += &format!(", {stride} bytes per line");
                    }
                }
                _ => line += ": geometry not readable",
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framebuffers_are_described_from_sysfs() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("dev");
        let sys = dir.path().join("sys");
        std::fs::create_dir_all(&dev).unwrap();
        std::fs::create_dir_all(sys.join("fb0")).unwrap();
        std::fs::write(dev.join("fb0"), b"").unwrap();
        std::fs::write(dev.join("fb1"), b"").unwrap();
        std::fs::write(dev.join("fbdev-other"), b"").unwrap();
        std::fs::write(sys.join("fb0/name"), "vc4drmfb\n").unwrap();
        std::fs::write(sys.join("fb0/virtual_size"), "1920,1080\n").unwrap();
        std::fs::write(sys.join("fb0/bits_per_pixel"), "32\n").unwrap();
        std::fs::write(sys.join("fb0/stride"), "7680\n").unwrap();
        let lines = framebuffers(&dev, &sys);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].ends_with("fb0 (vc4drmfb): 1920×1080 px, 32 bpp, 7680 bytes per line"));
        assert!(lines[1].ends_with("fb1: geometry not readable"));
    }

    #[test]
    fn the_inventory_never_fails_and_names_every_section() {
        let text = inventory().to_string();
        for title in [
            "audio inputs:",
            "framebuffers:",
            "SPI devices:",
            "GPIO chips:",
        ] {
            assert!(text.contains(title), "{text}");
        }
        assert!(entries(Path::new("/no/such/dir"), "fb").is_empty());
    }
}
