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
    /// `base × multiplier^(n-1)`; with `max_doublings` d, past d
    /// multiplications the delay grows linearly by `base × multiplier^d`
    /// per retry (Cloud Tasks' curve).
    Exponential {
        base: Duration,
        multiplier: f64,
        max_doublings: Option<u32>,
    },
    /// An explicit list; past its end the last value repeats. Never empty.
    Schedule(Vec<Duration>),
    Constant(Duration),
    /// `base + step × (n-1)`.
    Linear {
        base: Duration,
        step: Duration,
    },
    /// `n^exponent` seconds `+ offset` (Sidekiq's curve: exponent 4, offset 15 s).
    Polynomial {
        exponent: f64,
        offset: Duration,
    },
}

/// Seconds as a duration, saturating at `CEILING` (and at zero below).
fn secs(s: f64) -> Duration {
    if s.is_finite() && s < CEILING.as_secs_f64() {
        Duration::from_secs_f64(s.max(0.0))
    } else {
        CEILING
    }
}

impl Backoff {
    /// The delay before retry n (n = failure number, 1-based), before jitter.
    pub fn delay(&self, n: u32) -> Duration {
        let n = n.max(1);
        match self {
            Backoff::Exponential {
                base,
                multiplier,
                max_doublings,
            } => {
                let retries = n - 1;
                let doublings = max_doublings.map_or(retries, |d| retries.min(d));
                let exp = i32::try_from(doublings).unwrap_or(i32::MAX);
                let top = base.as_secs_f64() * multiplier.powi(exp);
                // Past the doublings: one more `top` per retry.
                secs(top * f64::from(retries - doublings + 1))
            }
            Backoff::Linear { base, step } => {
                secs(base.as_secs_f64() + step.as_secs_f64() * f64::from(n - 1))
            }
            Backoff::Polynomial { exponent, offset } => {
                secs(f64::from(n).powf(*exponent) + offset.as_secs_f64())
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
            Backoff::Exponential {
                base,
                multiplier,
                max_doublings,
            } => match max_doublings {
                None => format!("exponential {} x {multiplier}", Human(*base)),
                Some(d) => format!(
                    "exponential {} x {multiplier}, {d} doublings then linear",
                    Human(*base)
                ),
            },
            Backoff::Linear { base, step } => {
                format!("linear {} + {} per retry", Human(*base), Human(*step))
            }
            Backoff::Polynomial { exponent, offset } => {
                format!("polynomial n^{exponent}s + {}", Human(*offset))
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
    /// U[(1-f)·d, (1+f)·d] (resilience4j's and Go backoff's randomization factor).
    Symmetric(f64),
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
        let s = match *self {
            Jitter::None => return d,
            Jitter::Full => unit(rng) * d_secs,
            Jitter::Equal => d_secs / 2.0 + unit(rng) * d_secs / 2.0,
            Jitter::Proportional(f) => d_secs + unit(rng) * f * d_secs,
            Jitter::Symmetric(f) => d_secs * (1.0 - f + unit(rng) * 2.0 * f),
            Jitter::Decorrelated => {
                let lo = base.as_secs_f64();
                let hi = (3.0 * previous.as_secs_f64()).max(lo);
                (lo + unit(rng) * (hi - lo)).min(max_delay.as_secs_f64())
            }
        };
        secs(s)
    }

    pub fn describe(&self) -> String {
        match self {
            Jitter::None => "none".into(),
            Jitter::Full => "full".into(),
            Jitter::Equal => "equal".into(),
            Jitter::Proportional(f) => format!("proportional {f}"),
            Jitter::Symmetric(f) => format!("symmetric {f}"),
            Jitter::Decorrelated => "decorrelated".into(),
        }
    }
}

/// A uniform draw from [0, 1].
pub fn unit<R: Rng + ?Sized>(rng: &mut R) -> f64 {
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
            max_doublings: None,
        };
        assert_eq!(
            [b.delay(1), b.delay(2), b.delay(3)],
            [S(30), S(120), S(480)]
        );
        let b = Backoff::Exponential {
            base: Duration::from_millis(500),
            multiplier: 2.0,
            max_doublings: None,
        };
        assert_eq!(b.delay(4), S(4));
    }

    #[test]
    fn exponential_saturates_instead_of_overflowing() {
        let b = Backoff::Exponential {
            base: S(1),
            multiplier: 10.0,
            max_doublings: None,
        };
        assert_eq!(b.delay(u32::MAX), CEILING);
        assert_eq!(b.delay(400), CEILING);
    }

    /// Cloud Tasks' documentation: min_backoff 10 s, max_backoff 300 s,
    /// max_doublings 3 retry at 10, 20, 40, 80, 160, 240, 300, 300 s.
    #[test]
    fn max_doublings_is_cloud_tasks_doubling_then_linear() {
        let b = Backoff::Exponential {
            base: S(10),
            multiplier: 2.0,
            max_doublings: Some(3),
        };
        let cap = |d: Duration| d.min(S(300));
        let got: Vec<Duration> = (1..=8).map(|n| cap(b.delay(n))).collect();
        let want = [10, 20, 40, 80, 160, 240, 300, 300].map(S);
        assert_eq!(got, want);
        // max_doublings 0: linear in the base from the start.
        let b = Backoff::Exponential {
            base: S(5),
            multiplier: 2.0,
            max_doublings: Some(0),
        };
        assert_eq!([b.delay(1), b.delay(2), b.delay(3)], [S(5), S(10), S(15)]);
        assert_eq!(b.delay(u32::MAX), CEILING);
    }

    /// Sidekiq's retry delay is `count^4 + 15` s (before its random part),
    /// count = 0, 1, 2...: 15, 16, 31, 96, 271 s. retryd's failure n is
    /// Sidekiq's count + 1, so failures 1..=4 get Sidekiq's retries 2..=5.
    #[test]
    fn polynomial_is_sidekiqs_curve() {
        let b = Backoff::Polynomial {
            exponent: 4.0,
            offset: S(15),
        };
        assert_eq!(
            [b.delay(1), b.delay(2), b.delay(3), b.delay(4)],
            [S(16), S(31), S(96), S(271)]
        );
        assert_eq!(b.delay(u32::MAX), CEILING);
    }

    /// base 10 s, step 5 s → 10, 15, 20 s; saturating for huge steps.
    #[test]
    fn linear_adds_a_step_per_retry() {
        let b = Backoff::Linear {
            base: S(10),
            step: S(5),
        };
        assert_eq!(
            [b.delay(1), b.delay(2), b.delay(3), b.delay(101)],
            [S(10), S(15), S(20), S(510)]
        );
        assert_eq!(
            Backoff::Linear {
                base: S(1),
                step: S(u64::MAX / 4)
            }
            .delay(u32::MAX),
            CEILING
        );
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
            // resilience4j's randomization factor 0.5: [0.5 d, 1.5 d].
            let sym = Jitter::Symmetric(0.5).apply(d, S(1), S(1), max, &mut rng);
            assert!(sym >= S(50) && sym <= S(150));
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
        assert_eq!(
            Jitter::Symmetric(0.2).apply(d, S(1), S(1), S(999), lo),
            S(80)
        );
        let top = Jitter::Symmetric(0.2).apply(d, S(1), S(1), S(999), hi);
        assert!(top > S(119) && top <= S(120));
    }
}
