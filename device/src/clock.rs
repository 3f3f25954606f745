//! Time as the app sees it. The modes read time and wait only through [`Clock`], so tests drive
//! a whole handheld or kiosk cycle (recording limits, the kiosk's hold, error screens) in
//! simulated time instead of sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A monotonic clock: time since an arbitrary start, and a way to wait.
pub trait Clock: Send + Sync {
    fn now(&self) -> Duration;
    fn sleep(&self, duration: Duration);
}

/// Wall time: `Instant` since construction, `std::thread::sleep`.
#[derive(Debug, Clone)]
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        Self {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }

    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration)
    }
}

/// Simulated time shared by clones: `sleep` and [`ManualClock::advance`] move it forward at
/// once. Scripted sources and buttons advance it as they "play", so time passes exactly as it
/// would on the board.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn advance(&self, by: Duration) {
        self.nanos.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }

    /// Moves time to `t` unless it is already later (time never runs backwards).
    pub fn advance_to(&self, t: Duration) {
        self.nanos.fetch_max(t.as_nanos() as u64, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        Duration::from_nanos(self.nanos.load(Ordering::SeqCst))
    }

    fn sleep(&self, duration: Duration) {
        self.advance(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_time_is_shared_and_never_runs_backwards() {
        let a = ManualClock::new();
        let b = a.clone();
        a.sleep(Duration::from_millis(30));
        b.advance_to(Duration::from_millis(10));
        assert_eq!(b.now(), Duration::from_millis(30));
        b.advance_to(Duration::from_millis(50));
        assert_eq!(a.now(), Duration::from_millis(50));
    }
}
