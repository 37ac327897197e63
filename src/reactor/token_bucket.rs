//! A token bucket: `rate` tokens a second, at most `burst` saved up. The
//! reactor keeps one per reactor for upgrades and one per connection for
//! CALLs; each is touched by its reactor only.

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A bucket holding `burst` tokens.
    pub fn full(burst: f64, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            updated: now,
        }
    }

    /// Takes one token, or tells how long until one is due.
    pub fn take(&mut self, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        // rate > 0 whenever a bucket is in use (0 means "no limit").
        let wait = (1.0 - self.tokens) / rate.max(f64::MIN_POSITIVE);
        Err(Duration::try_from_secs_f64(wait).unwrap_or(Duration::from_secs(3600)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_paces() {
        let t0 = Instant::now();
        let mut bucket = TokenBucket::full(3.0, t0);
        for _ in 0..3 {
            assert!(bucket.take(10.0, 3.0, t0).is_ok());
        }
        let wait = bucket.take(10.0, 3.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-6, "{wait:?}");
        assert!(
            bucket
                .take(10.0, 3.0, t0 + Duration::from_millis(100))
                .is_ok()
        );
        // Saving up never exceeds the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(bucket.take(10.0, 3.0, later).is_ok());
        }
        assert!(bucket.take(10.0, 3.0, later).is_err());
    }
}
