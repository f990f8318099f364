//! Policies: how many retries, which backoff and jitter, which limits; and
//! which policy a report gets (docs/decisions.md, "Policy selection").

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use super::backoff::{Backoff, Jitter};

/// What an error that no rule classified gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnUnknown {
    Retry,
    GiveUp,
}

/// What a server's own delay (Retry-After, gRPC pushback) does to a decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HintMode {
    /// A floor under the backoff.
    Honor,
    /// The delay itself (still capped by `max_delay`).
    Exact,
    /// Not looked at, a "do not retry" pushback included.
    Ignore,
}

impl HintMode {
    pub fn as_str(self) -> &'static str {
        match self {
            HintMode::Honor => "honor",
            HintMode::Exact => "exact",
            HintMode::Ignore => "ignore",
        }
    }
}

/// `max_retries = "unlimited"`: only `max_retry_duration` ends the job.
pub const UNLIMITED: u32 = u32::MAX;

/// `[policies.P.categories.C]`: what errors of one category get instead of
/// the policy's own values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CategoryOverride {
    pub max_retries: Option<u32>,
    pub backoff: Option<Backoff>,
    pub jitter: Option<Jitter>,
    pub max_delay: Option<Duration>,
}

/// The delay curve a decision uses: the policy's, or a category's override.
#[derive(Clone, Copy, Debug)]
pub struct Curve<'a> {
    pub backoff: &'a Backoff,
    pub jitter: Jitter,
    pub max_delay: Duration,
    /// Some part came from a category override.
    pub by_category: bool,
}

/// Index of a policy in its `PolicySet`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PolicyId(pub u16);

#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// Assigned by `PolicySet::new`.
    pub id: PolicyId,
    pub name: Arc<str>,
    pub max_retries: u32,
    pub backoff: Backoff,
    pub jitter: Jitter,
    pub max_delay: Duration,
    pub max_retry_duration: Option<Duration>,
    pub on_unknown: OnUnknown,
    pub retry_after_hint: HintMode,
    /// A longer server hint is disregarded (and counted).
    pub max_retry_after_hint: Option<Duration>,
    /// Per-category overrides (`category_limits` is the shorthand for their
    /// `max_retries`).
    pub categories: HashMap<String, CategoryOverride>,
    /// A policy every decision under this one is also computed under, and
    /// compared with (`shadow = "Q"`); it changes nothing.
    pub shadow: Option<Arc<str>>,
}

impl Policy {
    /// A configured policy with every key missing: the defaults of
    /// docs/configuration.md.
    pub fn named(name: &str) -> Policy {
        Policy {
            id: PolicyId::default(),
            name: Arc::from(name),
            max_retries: 3,
            backoff: Backoff::Exponential {
                base: Duration::from_secs(1),
                multiplier: 2.0,
                max_doublings: None,
            },
            jitter: Jitter::None,
            max_delay: Duration::from_secs(3600),
            max_retry_duration: None,
            on_unknown: OnUnknown::Retry,
            retry_after_hint: HintMode::Honor,
            max_retry_after_hint: None,
            categories: HashMap::new(),
            shadow: None,
        }
    }

    fn builtin(name: &str, max_attempts: u32, base_ms: u64, max_delay_s: u64) -> Policy {
        Policy {
            max_retries: max_attempts - 1,
            backoff: Backoff::Exponential {
                base: Duration::from_millis(base_ms),
                multiplier: 2.0,
                max_doublings: None,
            },
            max_delay: Duration::from_secs(max_delay_s),
            ..Policy::named(name)
        }
    }

    /// The four policies that exist with no configuration file.
    pub fn builtins() -> Vec<Policy> {
        vec![
            Policy::builtin("default", 3, 2_000, 60),
            Policy::builtin("aggressive", 5, 1_000, 30),
            Policy::builtin("conservative", 2, 5_000, 300),
            Policy::builtin("high_priority", 5, 500, 15),
        ]
    }

    /// The retry limit for an error of `category`, and whether a category
    /// limit (rather than `max_retries`) set it.
    pub fn limit_for(&self, category: &str) -> (u32, bool) {
        match self.overrides(category).and_then(|o| o.max_retries) {
            Some(l) => (l, true),
            None => (self.max_retries, false),
        }
    }

    /// The backoff, jitter and cap for an error of `category`.
    pub fn curve_for(&self, category: &str) -> Curve<'_> {
        let own = Curve {
            backoff: &self.backoff,
            jitter: self.jitter,
            max_delay: self.max_delay,
            by_category: false,
        };
        let Some(o) = self.overrides(category) else {
            return own;
        };
        Curve {
            backoff: o.backoff.as_ref().unwrap_or(own.backoff),
            jitter: o.jitter.unwrap_or(own.jitter),
            max_delay: o.max_delay.unwrap_or(own.max_delay),
            by_category: o.backoff.is_some() || o.jitter.is_some() || o.max_delay.is_some(),
        }
    }

    fn overrides(&self, category: &str) -> Option<&CategoryOverride> {
        // Most policies have none: skip the hashing.
        if self.categories.is_empty() {
            None
        } else {
            self.categories.get(category)
        }
    }
}

/// Priorities in `min..=max` get `policy`.
#[derive(Clone, Debug)]
pub struct PriorityBand {
    pub min: u32,
    pub max: u32,
    pub policy: Arc<Policy>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("unknown policy {0:?}")]
pub struct UnknownPolicy(pub String);

/// Every policy by name and the tables that select one.
#[derive(Clone, Debug)]
pub struct PolicySet {
    by_name: HashMap<String, Arc<Policy>>,
    /// Indexed by `PolicyId`, in name order.
    by_id: Vec<Arc<Policy>>,
    job_types: HashMap<String, Arc<Policy>>,
    bands: Vec<PriorityBand>,
    default: Arc<Policy>,
}

impl Default for PolicySet {
    fn default() -> Self {
        PolicySet::new(Vec::new(), &[], None).expect("built-in policies are consistent")
    }
}

impl PolicySet {
    /// Built-ins, then `configured` (a configured policy with a built-in's name
    /// replaces it). `job_types` maps a job type to a policy name; `bands`
    /// replaces the default priority bands when given.
    pub fn new(
        configured: Vec<Policy>,
        job_types: &[(String, String)],
        bands: Option<&[(u32, u32, String)]>,
    ) -> Result<PolicySet, UnknownPolicy> {
        let mut named: HashMap<String, Policy> = HashMap::new();
        for p in Policy::builtins().into_iter().chain(configured) {
            named.insert(p.name.to_string(), p);
        }
        let mut sorted: Vec<Policy> = named.into_values().collect();
        sorted.sort_by(|a, b| a.name.cmp(&b.name));
        let by_id: Vec<Arc<Policy>> = sorted
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                p.id = PolicyId(u16::try_from(i).unwrap_or(u16::MAX));
                Arc::new(p)
            })
            .collect();
        let mut by_name: HashMap<String, Arc<Policy>> = by_id
            .iter()
            .map(|p| (p.name.to_string(), p.clone()))
            .collect();
        let lookup = |by_name: &HashMap<String, Arc<Policy>>, name: &str| {
            by_name
                .get(name)
                .cloned()
                .ok_or_else(|| UnknownPolicy(name.to_string()))
        };
        let job_types = job_types
            .iter()
            .map(|(t, p)| Ok((t.clone(), lookup(&by_name, p)?)))
            .collect::<Result<_, UnknownPolicy>>()?;
        let default_bands = [
            (80, 100, "high_priority".to_string()),
            (0, 20, "conservative".to_string()),
        ];
        let bands = bands
            .unwrap_or(&default_bands)
            .iter()
            .map(|(min, max, p)| {
                Ok(PriorityBand {
                    min: *min,
                    max: *max,
                    policy: lookup(&by_name, p)?,
                })
            })
            .collect::<Result<_, UnknownPolicy>>()?;
        for p in &by_id {
            if let Some(q) = &p.shadow {
                lookup(&by_name, q)?;
            }
        }
        let default = lookup(&by_name, "default")?;
        by_name.shrink_to_fit();
        Ok(PolicySet {
            by_name,
            by_id,
            job_types,
            bands,
            default,
        })
    }

    pub fn get(&self, name: &str) -> Option<&Arc<Policy>> {
        self.by_name.get(name)
    }

    /// Policies sorted by name (= by id).
    pub fn policies(&self) -> &[Arc<Policy>] {
        &self.by_id
    }

    /// The policy with this id (the default policy for an id no policy has).
    pub fn by_id(&self, id: PolicyId) -> &Arc<Policy> {
        self.by_id.get(usize::from(id.0)).unwrap_or(&self.default)
    }

    /// The shadow of `policy`, if it has one.
    pub fn shadow_of(&self, policy: &Policy) -> Option<&Arc<Policy>> {
        self.by_name.get(&**policy.shadow.as_ref()?)
    }

    /// The policy named `default`.
    pub fn default_policy(&self) -> &Arc<Policy> {
        &self.default
    }

    pub fn job_types(&self) -> impl Iterator<Item = (&str, &Arc<Policy>)> {
        self.job_types.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn bands(&self) -> &[PriorityBand] {
        &self.bands
    }

    /// First that applies: the request's `policy`, the `job_types` table, the
    /// priority bands, `default`. An explicit name that no policy has is an error.
    pub fn select(
        &self,
        explicit: &str,
        job_type: &str,
        priority: Option<u32>,
    ) -> Result<&Arc<Policy>, UnknownPolicy> {
        if !explicit.is_empty() {
            return self
                .by_name
                .get(explicit)
                .ok_or_else(|| UnknownPolicy(explicit.to_string()));
        }
        if let Some(p) = self.job_types.get(job_type) {
            return Ok(p);
        }
        if let Some(pr) = priority
            && let Some(b) = self.bands.iter().find(|b| (b.min..=b.max).contains(&pr))
        {
            return Ok(&b.policy);
        }
        Ok(&self.default)
    }
}

impl fmt::Display for Policy {
    /// One line for `check-config`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use super::Human;
        if self.max_retries == UNLIMITED {
            f.write_str("max_attempts unlimited")?;
        } else {
            write!(f, "max_attempts {}", self.max_retries.saturating_add(1))?;
        }
        write!(
            f,
            ", backoff {}, jitter {}, max_delay {}",
            self.backoff.describe(),
            self.jitter.describe(),
            Human(self.max_delay)
        )?;
        if let Some(d) = self.max_retry_duration {
            write!(f, ", max_retry_duration {}", Human(d))?;
        }
        if self.on_unknown == OnUnknown::GiveUp {
            f.write_str(", on_unknown give_up")?;
        }
        if self.retry_after_hint != HintMode::Honor {
            write!(f, ", retry_after_hint {}", self.retry_after_hint.as_str())?;
        }
        if let Some(m) = self.max_retry_after_hint {
            write!(f, ", max_retry_after_hint {}", Human(m))?;
        }
        if let Some(q) = &self.shadow {
            write!(f, ", shadow {q}")?;
        }
        let mut categories: Vec<_> = self.categories.iter().collect();
        categories.sort_by(|a, b| a.0.cmp(b.0));
        for (c, o) in categories {
            write!(f, "; category {c}:")?;
            match o.max_retries {
                Some(UNLIMITED) => f.write_str(" max_retries unlimited")?,
                Some(l) => write!(f, " max_retries {l}")?,
                None => {}
            }
            if let Some(b) = &o.backoff {
                write!(f, " backoff {}", b.describe())?;
            }
            if let Some(j) = &o.jitter {
                write!(f, " jitter {}", j.describe())?;
            }
            if let Some(d) = o.max_delay {
                write!(f, " max_delay {}", Human(d))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_the_documented_table() {
        let set = PolicySet::default();
        let row = |name: &str| {
            let p = set.get(name).expect("built-in exists");
            (p.max_retries + 1, p.backoff.clone(), p.max_delay)
        };
        let exp = |ms, m| Backoff::Exponential {
            base: Duration::from_millis(ms),
            multiplier: m,
            max_doublings: None,
        };
        assert_eq!(row("default"), (3, exp(2000, 2.0), Duration::from_secs(60)));
        assert_eq!(
            row("aggressive"),
            (5, exp(1000, 2.0), Duration::from_secs(30))
        );
        assert_eq!(
            row("conservative"),
            (2, exp(5000, 2.0), Duration::from_secs(300))
        );
        assert_eq!(
            row("high_priority"),
            (5, exp(500, 2.0), Duration::from_secs(15))
        );
    }

    #[test]
    fn selection_order_explicit_job_type_priority_default() {
        let mut extraction = Policy::named("extraction");
        extraction.max_retries = 7;
        let set = PolicySet::new(
            vec![extraction],
            &[("extraction".into(), "extraction".into())],
            None,
        )
        .expect("valid");
        let pick = |explicit: &str, jt: &str, pr: Option<u32>| {
            set.select(explicit, jt, pr)
                .expect("known")
                .name
                .to_string()
        };
        assert_eq!(pick("aggressive", "extraction", Some(90)), "aggressive");
        assert_eq!(pick("", "extraction", Some(90)), "extraction");
        assert_eq!(pick("", "other", Some(90)), "high_priority");
        assert_eq!(pick("", "other", Some(80)), "high_priority");
        assert_eq!(pick("", "other", Some(20)), "conservative");
        assert_eq!(pick("", "other", Some(0)), "conservative");
        assert_eq!(pick("", "other", Some(50)), "default");
        assert_eq!(pick("", "other", None), "default");
        assert_eq!(
            set.select("nope", "", None).err(),
            Some(UnknownPolicy("nope".into()))
        );
    }

    #[test]
    fn configured_bands_replace_the_defaults() {
        let set = PolicySet::new(Vec::new(), &[], Some(&[(50, 100, "aggressive".into())]))
            .expect("valid");
        assert_eq!(
            &*set.select("", "", Some(60)).expect("ok").name,
            "aggressive"
        );
        assert_eq!(&*set.select("", "", Some(10)).expect("ok").name, "default");
    }

    #[test]
    fn configured_policy_replaces_builtin_of_same_name() {
        let mut d = Policy::named("default");
        d.max_retries = 9;
        let set = PolicySet::new(vec![d], &[], None).expect("valid");
        assert_eq!(set.get("default").map(|p| p.max_retries), Some(9));
        // Missing keys take the configured-policy defaults, not the built-in's.
        assert_eq!(
            set.get("default").map(|p| p.max_delay),
            Some(Duration::from_secs(3600))
        );
    }

    #[test]
    fn unknown_names_in_tables_are_errors() {
        assert!(PolicySet::new(Vec::new(), &[("a".into(), "missing".into())], None).is_err());
        assert!(PolicySet::new(Vec::new(), &[], Some(&[(0, 1, "missing".into())])).is_err());
    }

    #[test]
    fn category_limit_replaces_max_retries() {
        let mut p = Policy::named("p");
        p.categories.insert(
            "rate_limit".into(),
            CategoryOverride {
                max_retries: Some(10),
                ..CategoryOverride::default()
            },
        );
        assert_eq!(p.limit_for("rate_limit"), (10, true));
        assert_eq!(p.limit_for("network"), (3, false));
    }

    #[test]
    fn category_curve_overrides_only_what_it_sets() {
        let mut p = Policy::named("p");
        p.categories.insert(
            "throttled".into(),
            CategoryOverride {
                backoff: Some(Backoff::Constant(Duration::from_secs(30))),
                max_delay: Some(Duration::from_secs(600)),
                ..CategoryOverride::default()
            },
        );
        p.categories.insert(
            "limited".into(),
            CategoryOverride {
                max_retries: Some(1),
                ..CategoryOverride::default()
            },
        );
        let c = p.curve_for("throttled");
        assert_eq!(c.backoff, &Backoff::Constant(Duration::from_secs(30)));
        assert_eq!(c.jitter, p.jitter);
        assert_eq!(c.max_delay, Duration::from_secs(600));
        assert!(c.by_category);
        let c = p.curve_for("limited");
        assert_eq!(c.backoff, &p.backoff);
        assert!(!c.by_category);
        assert_eq!(p.limit_for("throttled"), (3, false));
    }
}
