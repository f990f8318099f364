//! Backoff kinds and jitter (docs/decisions.md, "Backoff" and "Jitter").
//!
//! The random source is an argument: tests pass a seeded or a fixed one and
//! check bounds, the server passes a thread-local generator.

use std::time::Duration;

use rand::Rng;

/// Longest delay the arithmetic produces before `max_delay` caps it: keeps
/// `base × multiplier^(n-1)` from overflowing for large n.
const CEILING: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

#[derive(Clone, Debug, PartialEq)]
pub enum Backoff {
    /// `base × multiplier^(n-1)`.
    Exponential {
        base: Duration,
        multiplier: f64,
    },
    /// An explicit list; past its end the last value repeats. Never empty.
    Schedule(Vec<Duration>),
    Constant(Duration),
}

impl Backoff {
    /// The delay before retry n (n = failure number, 1-based), before jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let n = n.max(1);
        match self {
            Backoff::Exponential { base, multiplier } => {
                let exp = i32::try_from(n - 1).unwrap_or(i32::MAX);
                let secs = base.as_secs_f64() * multiplier.powi(exp);
                if secs.is_finite() && secs < CEILING.as_secs_f64() {
                    Duration::from_secs_f64(secs)
                } else {
                    CEILING
                }
            }
            Backoff::Schedule(delays) => {
                let i = usize::try_from(n - 1).unwrap_or(usize::MAX);
                delays.get(i).or(delays.last()).copied().unwrap_or_default()
            }
            Backoff::Constant(d) => *d,
        }
    }

    /// The first delay: decorrelated jitter's lower bound.
    pub fn base(&self) -> Duration {
        self.delay(1)
    }

    pub fn describe(&self) -> String {
        use super::Human;
        match self {
            Backoff::Exponential { base, multiplier } => {
                format!("exponential {} x {multiplier}", Human(*base))
            }
            Backoff::Schedule(d) => {
                let list: Vec<String> = d.iter().map(|d| Human(*d).to_string()).collect();
                format!("schedule [{}]", list.join(", "))
            }
            Backoff::Constant(d) => format!("constant {}", Human(*d)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Jitter {
    None,
    /// U[0, d].
    Full,
    /// d/2 + U[0, d/2].
    Equal,
    /// d + U[0, f·d].
    Proportional(f64),
    /// min(max_delay, U[base, 3 × previous delay]).
    Decorrelated,
}

impl Jitter {
    /// Applies the jitter to the backoff delay `d`.
    ///
    /// `base` is the backoff's first delay and `previous` the delay of the
    /// job's previous retry (`base` on the first failure); only decorrelated
    /// jitter uses them.
    pub fn apply<R: Rng + ?Sized>(
        &self,
        d: Duration,
        base: Duration,
        previous: Duration,
        max_delay: Duration,
        rng: &mut R,
    ) -> Duration {
        let d_secs = d.as_secs_f64();
        let secs = match *self {
            Jitter::None => return d,
            Jitter::Full => unit(rng) * d_secs,
            Jitter::Equal => d_secs / 2.0 + unit(rng) * d_secs / 2.0,
            Jitter::Proportional(f) => d_secs + unit(rng) * f * d_secs,
            Jitter::Decorrelated => {
                let lo = base.as_secs_f64();
                let hi = (3.0 * previous.as_secs_f64()).max(lo);
                (lo + unit(rng) * (hi - lo)).min(max_delay.as_secs_f64())
            }
        };
        if secs.is_finite() && secs < CEILING.as_secs_f64() {
            Duration::from_secs_f64(secs.max(0.0))
        } else {
            CEILING
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Jitter::None => "none".into(),
            Jitter::Full => "full".into(),
            Jitter::Equal => "equal".into(),
            Jitter::Proportional(f) => format!("proportional {f}"),
            Jitter::Decorrelated => "decorrelated".into(),
        }
    }
}

/// A uniform draw from [0, 1].
fn unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    // 53 random bits: every f64 in [0, 1) with equal spacing.
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    const S: fn(u64) -> Duration = Duration::from_secs;

    /// A generator that always yields the same word: pins jitter to one end.
    struct Fixed(u64);
    impl rand::TryRng for Fixed {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(self.0 as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(self.0)
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
            dst.fill(self.0 as u8);
            Ok(())
        }
    }

    #[test]
    fn exponential_is_base_times_multiplier_to_n_minus_1() {
        let b = Backoff::Exponential {
            base: S(30),
            multiplier: 4.0,
        };
        assert_eq!(
            [b.delay(1), b.delay(2), b.delay(3)],
            [S(30), S(120), S(480)]
        );
        let b = Backoff::Exponential {
            base: Duration::from_millis(500),
            multiplier: 2.0,
        };
        assert_eq!(b.delay(4), S(4));
    }

    #[test]
    fn exponential_saturates_instead_of_overflowing() {
        let b = Backoff::Exponential {
            base: S(1),
            multiplier: 10.0,
        };
        assert_eq!(b.delay(u32::MAX), CEILING);
        assert_eq!(b.delay(400), CEILING);
    }

    #[test]
    fn schedule_repeats_its_last_value() {
        let b = Backoff::Schedule(vec![S(60), S(300), S(900)]);
        assert_eq!(
            [b.delay(1), b.delay(2), b.delay(3), b.delay(4), b.delay(99)],
            [S(60), S(300), S(900), S(900), S(900)]
        );
    }

    #[test]
    fn constant_is_constant() {
        let b = Backoff::Constant(S(7));
        assert_eq!([b.delay(1), b.delay(50)], [S(7), S(7)]);
    }

    #[test]
    fn jitter_bounds_hold_over_many_draws() {
        let mut rng = StdRng::seed_from_u64(7);
        let d = S(100);
        let max = S(1000);
        for _ in 0..10_000 {
            let full = Jitter::Full.apply(d, S(1), S(1), max, &mut rng);
            assert!(full <= d);
            let equal = Jitter::Equal.apply(d, S(1), S(1), max, &mut rng);
            assert!(equal >= S(50) && equal <= d);
            let prop = Jitter::Proportional(0.25).apply(d, S(1), S(1), max, &mut rng);
            assert!(prop >= d && prop <= S(125));
            let dec = Jitter::Decorrelated.apply(d, S(2), S(10), max, &mut rng);
            assert!(dec >= S(2) && dec <= S(30));
        }
    }

    #[test]
    fn jitter_reaches_both_ends_of_its_range() {
        let d = S(100);
        let lo = &mut Fixed(0);
        let hi = &mut Fixed(u64::MAX);
        assert_eq!(Jitter::Full.apply(d, S(1), S(1), S(999), lo), S(0));
        assert!(Jitter::Full.apply(d, S(1), S(1), S(999), hi) > S(99));
        assert_eq!(Jitter::Equal.apply(d, S(1), S(1), S(999), lo), S(50));
        assert_eq!(
            Jitter::Proportional(0.25).apply(d, S(1), S(1), S(999), lo),
            d
        );
        assert!(Jitter::Proportional(0.25).apply(d, S(1), S(1), S(999), hi) > S(124));
        assert_eq!(Jitter::Decorrelated.apply(d, S(2), S(10), S(999), lo), S(2));
        assert!(Jitter::Decorrelated.apply(d, S(2), S(10), S(999), hi) > S(29));
        // Decorrelated is capped by max_delay itself.
        assert_eq!(
            Jitter::Decorrelated.apply(d, S(2), S(100), S(60), hi),
            S(60)
        );
        assert_eq!(Jitter::None.apply(d, S(1), S(1), S(999), hi), d);
    }
}
