//! The training progress bar: position, rate, ETA and a message with the current losses.

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over `total` steps, starting at `done` (a resumed run).
pub fn training_bar(total: u64, done: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps  {msg}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_position(done);
    bar.reset_eta();
    bar
}

/// A line above the bar, or on stdout when the bar is hidden (not a terminal: logs).
pub fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        println!("{line}");
    } else {
        bar.println(line);
    }
}
