//! Software debounce for a mechanical switch: a new level counts once it has held, with no
//! further edge, for the debounce time. Bounces and glitches shorter than that are ignored;
//! the cost is that much latency, imperceptible for push-to-talk at 20–50 ms.

use std::time::Duration;

use super::ButtonEvent;

#[derive(Debug, Clone)]
pub struct Debouncer {
    window: Duration,
    /// The accepted state: pressed or not.
    stable: bool,
    /// The newest raw level and when it began.
    raw: bool,
    raw_since: Duration,
}

impl Debouncer {
    /// `pressed` is the state at start (a button held while the program starts is pressed, and
    /// reports nothing until released).
    pub fn new(window: Duration, pressed: bool) -> Self {
        Self {
            window,
            stable: pressed,
            raw: pressed,
            raw_since: Duration::ZERO,
        }
    }

    pub fn is_pressed(&self) -> bool {
        self.stable
    }

    /// A raw edge: the line now reads `pressed`, since `at`.
    pub fn edge(&mut self, pressed: bool, at: Duration) {
        if pressed != self.raw {
            self.raw = pressed;
            self.raw_since = at;
        }
    }

    /// When the pending level will count, if one is pending.
    pub fn deadline(&self) -> Option<Duration> {
        (self.raw != self.stable).then_some(self.raw_since + self.window)
    }

    /// The event the raw level makes by `now`, if it has held long enough.
    pub fn poll(&mut self, now: Duration) -> Option<ButtonEvent> {
        if self.raw != self.stable && now >= self.raw_since + self.window {
            self.stable = self.raw;
            return Some(if self.stable {
                ButtonEvent::Pressed
            } else {
                ButtonEvent::Released
            });
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ButtonEvent::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Feeds timestamped raw edges and polls every millisecond up to `until`, returning the
    /// events with the time they were reported.
    fn run(edges: &[(u64, bool)], window_ms: u64, until: u64) -> Vec<(u64, ButtonEvent)> {
        let mut d = Debouncer::new(ms(window_ms), false);
        let mut out = Vec::new();
        let mut next = 0;
        for t in 0..=until {
            while next < edges.len() && edges[next].0 == t {
                d.edge(edges[next].1, ms(t));
                next += 1;
            }
            if let Some(e) = d.poll(ms(t)) {
                out.push((t, e));
            }
        }
        out
    }

    #[test]
    fn a_bouncy_press_and_release_give_one_event_each() {
        let edges = [
            (100, true),
            (101, false),
            (103, true),
            (104, false),
            (106, true), // settles pressed
            (900, false),
            (902, true),
            (905, false), // settles released
        ];
        assert_eq!(run(&edges, 30, 2000), [(136, Pressed), (935, Released)]);
    }

    #[test]
    fn glitches_shorter_than_the_window_are_ignored() {
        let edges = [(100, true), (110, false), (500, true), (529, false)];
        assert!(run(&edges, 30, 1000).is_empty());
    }

    #[test]
    fn a_short_real_press_still_counts() {
        let edges = [(100, true), (160, false)];
        assert_eq!(run(&edges, 30, 1000), [(130, Pressed), (190, Released)]);
    }

    #[test]
    fn zero_window_passes_edges_through_and_deadline_says_when_to_look() {
        let mut d = Debouncer::new(Duration::ZERO, false);
        assert_eq!(d.deadline(), None);
        d.edge(true, ms(5));
        assert_eq!(d.deadline(), Some(ms(5)));
        assert_eq!(d.poll(ms(5)), Some(Pressed));
        assert!(d.is_pressed());
        // A repeated level is not a new edge.
        d.edge(true, ms(9));
        assert_eq!(d.poll(ms(9)), None);
    }
}
