//! The publishes in flight, in journal order, and what their acks say.
//!
//! Each journal line in the window has a sequence number; its publish asks
//! JetStream to answer on `{inbox}.{seq}`, so an ack finds its line in
//! O(1) whatever order acks come in. Sequence numbers are never reused in a
//! run: an ack for a window that was given up on (and published again from
//! the cursor) has a number before the window's front and is ignored.
//!
//! Invariant: the cursor may move to a line's `next` only once that line
//! and every line before it are acknowledged (or were skipped).

use std::collections::VecDeque;
use std::time::Instant;

use super::cursor::Position;

pub struct Window {
    slots: VecDeque<Slot>,
    /// The sequence number of `slots[0]`.
    front_seq: u64,
    /// Slots at most (`[channels] capacity`).
    limit: usize,
}

struct Slot {
    /// Where the line after this one starts.
    next: Position,
    /// Published and waiting for its ack (false: acked, or skipped).
    waiting: bool,
    /// Counts as an event published once acked (false for skipped lines).
    published: bool,
    sent: Instant,
}

/// What an ack's sequence number matched.
#[derive(Debug, PartialEq, Eq)]
pub enum Matched {
    /// A publish of this window, now acknowledged.
    Waiting,
    /// None: an ack for a window given up on, or a second ack.
    Stale,
}

/// Lines acknowledged at the window's front, taken off it.
pub struct Done {
    /// The cursor: where the line after the last of them starts.
    pub next: Position,
    pub published: u64,
}

impl Window {
    pub fn new(limit: usize) -> Window {
        Window {
            slots: VecDeque::with_capacity(limit.min(1 << 16)),
            front_seq: 0,
            limit: limit.max(1),
        }
    }

    pub fn is_full(&self) -> bool {
        self.slots.len() >= self.limit
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// The sequence number the next pushed line gets.
    pub fn next_seq(&self) -> u64 {
        self.front_seq + self.slots.len() as u64
    }

    /// A line published at `sent`, waiting for the ack on `next_seq()`.
    pub fn push_published(&mut self, next: Position, sent: Instant) {
        self.slots.push_back(Slot {
            next,
            waiting: true,
            published: true,
            sent,
        });
    }

    /// A line that is not a record: the cursor passes it with the acks
    /// before it.
    pub fn push_skipped(&mut self, next: Position, now: Instant) {
        self.slots.push_back(Slot {
            next,
            waiting: false,
            published: false,
            sent: now,
        });
    }

    pub fn ack(&mut self, seq: u64) -> Matched {
        let Some(i) = seq.checked_sub(self.front_seq) else {
            return Matched::Stale;
        };
        match usize::try_from(i).ok().and_then(|i| self.slots.get_mut(i)) {
            Some(slot) if slot.waiting => {
                slot.waiting = false;
                Matched::Waiting
            }
            _ => Matched::Stale,
        }
    }

    /// Takes the acknowledged lines off the front, if any.
    pub fn take_done(&mut self) -> Option<Done> {
        let mut done: Option<Done> = None;
        while self.slots.front().is_some_and(|s| !s.waiting) {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            self.front_seq += 1;
            let published = u64::from(slot.published);
            done = Some(match done {
                Some(d) => Done {
                    next: slot.next,
                    published: d.published + published,
                },
                None => Done {
                    next: slot.next,
                    published,
                },
            });
        }
        done
    }

    /// When the oldest publish still waiting was sent (after `take_done`,
    /// the front one).
    pub fn oldest_sent(&self) -> Option<Instant> {
        self.slots.front().map(|s| s.sent)
    }

    /// Gives up on every line in flight (they go again from the cursor);
    /// their acks, should they come, are stale.
    pub fn abandon(&mut self) {
        self.front_seq += self.slots.len() as u64;
        self.slots.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(offset: u64) -> Position {
        Position {
            file: "j".into(),
            offset,
        }
    }

    #[test]
    fn the_cursor_moves_only_over_acknowledged_lines() {
        let now = Instant::now();
        let mut w = Window::new(4);
        for (i, off) in [10, 20, 30].into_iter().enumerate() {
            assert_eq!(w.next_seq(), i as u64);
            if off == 20 {
                w.push_skipped(at(off), now);
            } else {
                w.push_published(at(off), now);
            }
        }
        assert!(w.take_done().is_none());
        assert_eq!(w.ack(2), Matched::Waiting, "out of order");
        assert!(w.take_done().is_none(), "line 0 still waits");
        assert_eq!(w.ack(0), Matched::Waiting);
        let done = w.take_done().unwrap();
        assert_eq!((done.next, done.published), (at(30), 2));
        assert!(w.is_empty());
        assert_eq!(w.ack(0), Matched::Stale, "a second ack");
    }

    #[test]
    fn acks_of_an_abandoned_window_are_stale() {
        let now = Instant::now();
        let mut w = Window::new(2);
        w.push_published(at(1), now);
        w.push_published(at(2), now);
        assert!(w.is_full());
        w.abandon();
        assert_eq!(w.next_seq(), 2, "numbers are not reused");
        w.push_published(at(1), now);
        assert_eq!(w.ack(1), Matched::Stale);
        assert_eq!(w.ack(7), Matched::Stale, "never sent");
        assert_eq!(w.ack(2), Matched::Waiting);
        assert_eq!(w.take_done().unwrap().next, at(1));
    }
}
