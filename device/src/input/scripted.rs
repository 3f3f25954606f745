//! A button played from a script of raw timestamped edges, through the same [`Debouncer`] as
//! the GPIO button, in the shared clock's time: `poll` advances the clock to the next edge or
//! to the end of its timeout, as waiting on a real line would take that long.

use std::iter::Peekable;
use std::sync::Arc;
use std::time::Duration;

use super::{Button, ButtonEvent, Debouncer, InputError};
use crate::clock::Clock;

/// The line reads `pressed` from `at` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub at: Duration,
    pub pressed: bool,
}

impl Edge {
    pub fn press(at: Duration) -> Self {
        Self { at, pressed: true }
    }

    pub fn release(at: Duration) -> Self {
        Self { at, pressed: false }
    }
}

pub struct ScriptedButton {
    edges: Peekable<Box<dyn Iterator<Item = Edge>>>,
    debouncer: Debouncer,
    clock: Arc<dyn Clock>,
}

impl ScriptedButton {
    /// Edges must come in time order; they are pulled lazily (a soak script can be endless).
    pub fn new<I>(edges: I, debounce: Duration, clock: Arc<dyn Clock>) -> Self
    where
        I: IntoIterator<Item = Edge>,
        I::IntoIter: 'static,
    {
        let edges: Box<dyn Iterator<Item = Edge>> = Box::new(edges.into_iter());
        Self {
            edges: edges.peekable(),
            debouncer: Debouncer::new(debounce, false),
            clock,
        }
    }
}

impl Button for ScriptedButton {
    /// [`InputError::Closed`] once the script has played out and no event is pending.
    fn poll(&mut self, timeout: Duration) -> Result<Option<ButtonEvent>, InputError> {
        let end = self.clock.now() + timeout;
        loop {
            let now = self.clock.now();
            let next_edge = self.edges.peek().map(|e| e.at);
            let settle = self.debouncer.deadline();
            let Some(next) = [next_edge, settle].into_iter().flatten().min() else {
                return Err(InputError::Closed("scripted button".into()));
            };
            if next > end {
                if end > now {
                    self.clock.sleep(end - now);
                }
                return Ok(None);
            }
            if next > now {
                self.clock.sleep(next - now);
            }
            match settle {
                // A level that has held to its deadline counts before a later edge.
                Some(s) if next_edge.is_none_or(|e| s <= e) => {
                    if let Some(event) = self.debouncer.poll(s.max(now)) {
                        return Ok(Some(event));
                    }
                }
                _ => {
                    let edge = self.edges.next().expect("peeked above");
                    self.debouncer.edge(edge.pressed, edge.at);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn bouncy_edges_become_clean_events_in_simulated_time() {
        let clock = ManualClock::new();
        let edges = vec![
            Edge::press(ms(100)),
            Edge::release(ms(102)),
            Edge::press(ms(104)),
            Edge::release(ms(700)),
        ];
        let mut b = ScriptedButton::new(edges, ms(20), Arc::new(clock.clone()));
        // Nothing within the first 50 ms: the clock moves by the timeout.
        assert_eq!(b.poll(ms(50)).unwrap(), None);
        assert_eq!(clock.now(), ms(50));
        // The press settles 20 ms after its last bounce.
        assert_eq!(b.poll(ms(1000)).unwrap(), Some(ButtonEvent::Pressed));
        assert_eq!(clock.now(), ms(124));
        // A zero timeout reports only what already happened.
        assert_eq!(b.poll(Duration::ZERO).unwrap(), None);
        assert_eq!(clock.now(), ms(124));
        clock.advance_to(ms(800));
        assert_eq!(b.poll(Duration::ZERO).unwrap(), Some(ButtonEvent::Released));
        assert!(matches!(b.poll(ms(10)), Err(InputError::Closed(_))));
    }
}
