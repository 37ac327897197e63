//! A hashed timer wheel, owned by one reactor.
//!
//! Deadlines are rounded *up* to the next tick, so a timer never fires
//! early and fires at most one tick late. There is no cancellation: an entry
//! carries the `(slot, generation)` of its connection, and the reactor drops
//! an entry whose connection is gone or has moved on (lazy cancellation).
//! Expiring a tick moves entries into a caller-owned vector; nothing is
//! allocated per tick once bucket capacities have settled.

use std::time::{Duration, Instant};

struct Entry<K> {
    /// Absolute tick number at which the entry is due.
    due_tick: u64,
    key: K,
}

pub struct TimerWheel<K> {
    buckets: Vec<Vec<Entry<K>>>,
    tick: Duration,
    origin: Instant,
    /// The first tick not yet expired.
    next_tick: u64,
    len: usize,
}

impl<K: Copy> TimerWheel<K> {
    /// `bucket_count` × `tick` is one turn of the wheel; longer timers stay in
    /// their bucket for several turns.
    pub fn new(bucket_count: usize, tick: Duration, origin: Instant) -> TimerWheel<K> {
        assert!(bucket_count > 0 && !tick.is_zero(), "empty wheel");
        TimerWheel {
            buckets: (0..bucket_count).map(|_| Vec::new()).collect(),
            tick,
            origin,
            next_tick: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ticks elapsed at `at`, rounded down.
    fn tick_floor(&self, at: Instant) -> u64 {
        let elapsed = at.saturating_duration_since(self.origin);
        (elapsed.as_nanos() / self.tick.as_nanos()) as u64
    }

    /// Schedules `key` to expire at `at` (rounded up to a tick boundary).
    pub fn schedule(&mut self, at: Instant, key: K) {
        let elapsed = at.saturating_duration_since(self.origin).as_nanos();
        let tick = self.tick.as_nanos();
        let due_tick = (elapsed.div_ceil(tick) as u64).max(self.next_tick);
        let bucket = (due_tick % self.buckets.len() as u64) as usize;
        self.buckets[bucket].push(Entry { due_tick, key });
        self.len += 1;
    }

    /// Moves every entry due at or before `now` into `due`.
    pub fn expire(&mut self, now: Instant, due: &mut Vec<K>) {
        let now_tick = self.tick_floor(now);
        if now_tick < self.next_tick {
            return;
        }
        // After a long stall every bucket is visited once, not once per tick.
        let steps = (now_tick - self.next_tick + 1).min(self.buckets.len() as u64);
        let before = due.len();
        for step in 0..steps {
            let index = ((self.next_tick + step) % self.buckets.len() as u64) as usize;
            self.buckets[index].retain(|entry| {
                if entry.due_tick <= now_tick {
                    due.push(entry.key);
                    false
                } else {
                    true
                }
            });
        }
        self.len -= due.len() - before;
        self.next_tick = now_tick + 1;
    }

    /// Keeps only the entries for which `live` holds (cancellation in bulk,
    /// for entries the owner knows to be stale).
    pub fn retain(&mut self, mut live: impl FnMut(&K) -> bool) {
        let mut kept = 0;
        for bucket in &mut self.buckets {
            bucket.retain(|entry| live(&entry.key));
            kept += bucket.len();
        }
        self.len = kept;
    }

    /// Gives back bucket capacity beyond what the entries need. Buckets keep
    /// their peak size (that is what makes `schedule` allocation-free in
    /// steady state), so after a burst the reactor calls this, rarely.
    pub fn shrink(&mut self) {
        for bucket in &mut self.buckets {
            bucket.shrink_to_fit();
        }
    }

    /// When the next tick boundary with pending entries could be due; `None`
    /// when the wheel is empty.
    pub fn next_expiry(&self) -> Option<Instant> {
        if self.len == 0 {
            return None;
        }
        let nanos = self.tick.as_nanos() * u128::from(self.next_tick);
        Some(self.origin + Duration::from_nanos(nanos.min(u64::MAX as u128) as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn fires_on_time_never_early() {
        let t0 = Instant::now();
        let mut wheel = TimerWheel::new(8, TICK, t0);
        wheel.schedule(t0 + ms(250), 'a');
        let mut due = Vec::new();
        wheel.expire(t0 + ms(299), &mut due);
        assert!(due.is_empty(), "fired early");
        wheel.expire(t0 + ms(300), &mut due);
        assert_eq!(due, vec!['a']);
        assert!(wheel.is_empty());
    }

    #[test]
    fn long_timers_survive_turns_of_the_wheel() {
        let t0 = Instant::now();
        let mut wheel = TimerWheel::new(4, TICK, t0);
        wheel.schedule(t0 + ms(1000), 1); // 2.5 turns away
        wheel.schedule(t0 + ms(100), 2);
        let mut due = Vec::new();
        for step in 1..=9 {
            wheel.expire(t0 + ms(step * 100), &mut due);
            if step == 1 {
                assert_eq!(due, vec![2]);
            }
        }
        assert_eq!(due, vec![2]);
        wheel.expire(t0 + ms(1000), &mut due);
        assert_eq!(due, vec![2, 1]);
    }

    #[test]
    fn stall_expires_everything_overdue_once() {
        let t0 = Instant::now();
        let mut wheel = TimerWheel::new(4, TICK, t0);
        for i in 0..20u64 {
            wheel.schedule(t0 + ms(i * 100), i);
        }
        let mut due = Vec::new();
        wheel.expire(t0 + ms(5_000), &mut due);
        due.sort();
        assert_eq!(due, (0..20).collect::<Vec<_>>());
        assert_eq!(wheel.len(), 0);
    }

    #[test]
    fn retain_drops_what_the_owner_no_longer_wants() {
        let t0 = Instant::now();
        let mut wheel = TimerWheel::new(4, TICK, t0);
        for i in 0..10u64 {
            wheel.schedule(t0 + ms(i * 100), i);
        }
        wheel.retain(|k| k % 2 == 0);
        assert_eq!(wheel.len(), 5);
        let mut due = Vec::new();
        wheel.expire(t0 + ms(5_000), &mut due);
        due.sort();
        assert_eq!(due, vec![0, 2, 4, 6, 8]);
    }

    #[test]
    fn past_deadline_fires_on_next_expire() {
        let t0 = Instant::now();
        let mut wheel = TimerWheel::new(4, TICK, t0);
        let mut due = Vec::new();
        wheel.expire(t0 + ms(500), &mut due);
        wheel.schedule(t0 + ms(100), 7); // already in the past
        assert_eq!(wheel.next_expiry(), Some(t0 + ms(600)));
        wheel.expire(t0 + ms(600), &mut due);
        assert_eq!(due, vec![7]);
    }
}
