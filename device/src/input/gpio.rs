//! A push-to-talk button on a GPIO line, through the Linux GPIO character device.
//!
//! The chip is found by its *label* (`gpiodetect` shows them: "pinctrl-bcm2711" on a Pi 4,
//! "pinctrl-rp1" on a Pi 5) because `/dev/gpiochipN` numbering differs between boards and
//! kernels. The line is requested for both edges; a thread blocks on the kernel's event queue
//! and hands edges to [`GpioButton::poll`], which debounces them.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use gpio_cdev::{Chip, EventRequestFlags, EventType, LineRequestFlags};

use super::{Button, ButtonEvent, Debouncer, InputError};

/// A GPIO chip as `s2i devices` and error messages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChipInfo {
    pub path: PathBuf,
    pub label: String,
    pub lines: u32,
}

/// `/dev/gpiochip*`, sorted by name.
fn chip_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir("/dev")
        .map(|dir| {
            dir.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("gpiochip"))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    paths.sort();
    paths
}

/// Every GPIO chip that can be opened, and an error line for each that cannot.
pub fn list_chips() -> Vec<Result<ChipInfo, String>> {
    chip_paths()
        .into_iter()
        .map(|path| match Chip::new(&path) {
            Ok(chip) => Ok(ChipInfo {
                label: chip.label().to_string(),
                lines: chip.num_lines(),
                path,
            }),
            Err(e) => Err(format!("{}: cannot open ({e})", path.display())),
        })
        .collect()
}

/// The chip labelled `label`.
pub fn find_chip(label: &str) -> Result<Chip, InputError> {
    let chips = list_chips();
    for info in chips.iter().flatten() {
        if info.label == label {
            return Chip::new(&info.path).map_err(|e| InputError::Device {
                device: info.path.display().to_string(),
                message: format!("cannot open: {e}"),
            });
        }
    }
    Err(InputError::NoChip {
        label: label.into(),
        present: chips
            .into_iter()
            .map(|c| c.map_or_else(|e| e, |info| info.to_string()))
            .collect(),
    })
}

/// What a check needs to know of a GPIO chip: one on the board ([`Chip`]), or one described in
/// a test.
pub trait ChipLines {
    /// "/dev/gpiochip0 (\"pinctrl-bcm2711\")", for messages.
    fn describe(&self) -> String;
    fn line_count(&self) -> u32;
    /// Who holds `line`, if anyone: a kernel driver or another program (a running s2i).
    fn holder(&mut self, line: u32) -> Result<Option<String>, String>;
}

impl ChipLines for Chip {
    fn describe(&self) -> String {
        format!("{} (\"{}\")", self.path().display(), self.label())
    }

    fn line_count(&self) -> u32 {
        self.num_lines()
    }

    fn holder(&mut self, line: u32) -> Result<Option<String>, String> {
        let info = self
            .get_line(line)
            .and_then(|l| l.info())
            .map_err(|e| e.to_string())?;
        Ok(info.is_used().then(|| match info.consumer() {
            Some(c) if !c.is_empty() => format!("\"{c}\""),
            _ if info.is_kernel() => "the kernel".to_string(),
            _ => "another program".to_string(),
        }))
    }
}

/// Line `line` exists on `chip` and nobody holds it: what `run --check` asks of every line a
/// configuration names, without requesting (and so without driving) it. `role` says what the
/// line is for ("button", "DC", …).
pub fn check_line(chip: &mut dyn ChipLines, line: u32, role: &str) -> Result<(), String> {
    let count = chip.line_count();
    if line >= count {
        return Err(format!(
            "{role} line {line} does not exist: {} has lines 0..{count}",
            chip.describe()
        ));
    }
    match chip.holder(line)? {
        None => Ok(()),
        Some(holder) => Err(format!(
            "{role} line {line} of {} is in use by {holder}",
            chip.describe()
        )),
    }
}

type RawEdge = Result<(bool, Instant), String>;

pub struct GpioButton {
    device: String,
    edges: Receiver<RawEdge>,
    debouncer: Debouncer,
    base: Instant,
}

impl GpioButton {
    /// Line `line` of the chip labelled `chip_label`; `active_low` when pressing pulls the line
    /// to ground (a button to GND with the pull-up on).
    pub fn open(
        chip_label: &str,
        line: u32,
        active_low: bool,
        debounce: Duration,
    ) -> Result<Self, InputError> {
        let mut chip = find_chip(chip_label)?;
        let device = format!("{} line {line} (\"{chip_label}\")", chip.path().display());
        let fail = |message: String| InputError::Device {
            device: device.clone(),
            message,
        };
        if line >= chip.num_lines() {
            return Err(fail(format!(
                "the chip has lines 0..{} only",
                chip.num_lines()
            )));
        }
        let handle = chip
            .get_line(line)
            .and_then(|l| {
                l.events(
                    LineRequestFlags::INPUT,
                    EventRequestFlags::BOTH_EDGES,
                    "s2i push-to-talk",
                )
            })
            .map_err(|e| fail(format!("cannot watch the line: {e} (is it in use?)")))?;
        // Physical levels (no ACTIVE_LOW flag): edges then mean the same on every kernel.
        let high = handle
            .get_value()
            .map_err(|e| fail(format!("cannot read the line: {e}")))?
            == 1;
        let base = Instant::now();
        let (tx, rx) = mpsc::channel();
        let mut handle = handle;
        std::thread::spawn(move || loop {
            let edge = handle.get_event().map_err(|e| e.to_string()).map(|ev| {
                let high = ev.event_type() == EventType::RisingEdge;
                (high != active_low, Instant::now())
            });
            let failed = edge.is_err();
            if tx.send(edge).is_err() || failed {
                break;
            }
        });
        Ok(Self {
            device,
            edges: rx,
            debouncer: Debouncer::new(debounce, high != active_low),
            base,
        })
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// What [`GpioButton::open`] would open, checked without taking the line: the chip with
    /// this label exists and the line exists and is free.
    pub fn probe(chip_label: &str, line: u32) -> Result<String, InputError> {
        let mut chip = find_chip(chip_label)?;
        check_line(&mut chip, line, "button").map_err(|message| InputError::Device {
            device: format!("GPIO chip \"{chip_label}\""),
            message,
        })?;
        Ok(format!("button: line {line} of {}", chip.describe()))
    }
}

impl Button for GpioButton {
    fn poll(&mut self, timeout: Duration) -> Result<Option<ButtonEvent>, InputError> {
        let end = Instant::now() + timeout;
        loop {
            if let Some(event) = self.debouncer.poll(self.base.elapsed()) {
                return Ok(Some(event));
            }
            let until = match self.debouncer.deadline() {
                Some(d) => end.min(self.base + d),
                None => end,
            };
            match self
                .edges
                .recv_timeout(until.saturating_duration_since(Instant::now()))
            {
                Ok(Ok((pressed, at))) => self
                    .debouncer
                    .edge(pressed, at.saturating_duration_since(self.base)),
                Ok(Err(message)) => {
                    return Err(InputError::Device {
                        device: self.device.clone(),
                        message: format!("reading events: {message}"),
                    })
                }
                Err(RecvTimeoutError::Timeout) if Instant::now() >= end => {
                    return Ok(self.debouncer.poll(self.base.elapsed()));
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(InputError::Device {
                        device: self.device.clone(),
                        message: "the event reader stopped".into(),
                    })
                }
            }
        }
    }
}

impl std::fmt::Display for ChipInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: \"{}\", {} lines",
            self.path.display(),
            self.label,
            self.lines
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chip as a test describes it: 54 lines, line 4 held by another program.
    struct FakeChip;

    impl ChipLines for FakeChip {
        fn describe(&self) -> String {
            "/dev/gpiochip0 (\"pinctrl-bcm2711\")".into()
        }
        fn line_count(&self) -> u32 {
            54
        }
        fn holder(&mut self, line: u32) -> Result<Option<String>, String> {
            Ok((line == 4).then(|| "\"s2i push-to-talk\"".to_string()))
        }
    }

    #[test]
    fn lines_are_checked_without_being_taken() {
        assert_eq!(check_line(&mut FakeChip, 17, "button"), Ok(()));
        assert_eq!(
            check_line(&mut FakeChip, 9999, "button").unwrap_err(),
            "button line 9999 does not exist: /dev/gpiochip0 (\"pinctrl-bcm2711\") has lines 0..54"
        );
        assert_eq!(
            check_line(&mut FakeChip, 4, "DC").unwrap_err(),
            "DC line 4 of /dev/gpiochip0 (\"pinctrl-bcm2711\") is in use by \"s2i push-to-talk\""
        );
        let e = GpioButton::probe("no-such-gpio-controller", 9999).unwrap_err();
        assert!(e.to_string().contains("no-such-gpio-controller"), "{e}");
    }

    #[test]
    fn a_missing_chip_is_named_with_the_chips_that_are_there() {
        let label = "no-such-gpio-controller";
        let Err(e) = GpioButton::open(label, 17, true, Duration::from_millis(30)) else {
            panic!("no chip has that label");
        };
        let message = e.to_string();
        assert!(message.contains(label), "{message}");
        if list_chips().is_empty() {
            assert!(message.contains("no GPIO chips"), "{message}");
        } else {
            assert!(message.contains("chips present"), "{message}");
        }
    }
}
