//! Ordered classification rules: an error report in, `(ErrorClass, category)` out.
//!
//! Semantically the rules are a list and the first that matches wins
//! (the caller's verdict between the configured rules and the built-in ones). Walking that list for every report would be slow, so
//! the list is compiled into one lookup per kind of matcher (a hash map for
//! type names, tables for HTTP and gRPC codes, a single `RegexSet` for every
//! message pattern), each yielding the *earliest* rule it matches; the answer
//! is the earliest of those. Messages are only scanned when a message rule
//! could still come first.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use regex::{RegexSet, RegexSetBuilder};

use super::{ErrorClass, ErrorReport};

mod builtin;
mod grpc_codes;

pub use builtin::builtin_rules;
pub use grpc_codes::{grpc_code_from_name, grpc_code_name};

/// One classification rule: it matches when any of its matchers does.
#[derive(Clone, Debug)]
pub struct Rule {
    pub category: Arc<str>,
    pub class: ErrorClass,
    pub builtin: bool,
    /// Exact type names, compared case-insensitively with the last segment.
    pub types: Vec<String>,
    /// Substrings of the whole type name, case-insensitive.
    pub type_contains: Vec<String>,
    /// Case-insensitive regular expressions searched in the message.
    pub message_regex: Vec<String>,
    /// Inclusive ranges of HTTP status codes.
    pub http_status: Vec<(u16, u16)>,
    /// Numeric gRPC codes.
    pub grpc_codes: Vec<u8>,
}

impl Rule {
    pub fn new(category: &str, class: ErrorClass) -> Self {
        Rule {
            category: Arc::from(category),
            class,
            builtin: false,
            types: Vec::new(),
            type_contains: Vec::new(),
            message_regex: Vec::new(),
            http_status: Vec::new(),
            grpc_codes: Vec::new(),
        }
    }
}

/// The last segment of a qualified type name: `requests.exceptions.ConnectionError`,
/// `java.net.ConnectException`, `io::Error`, `Outer$Inner`.
pub fn last_segment(type_name: &str) -> &str {
    type_name
        .rsplit(['.', ':', '/', '\\', '$'])
        .next()
        .unwrap_or(type_name)
}

/// Index of a category name in the classifier's table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CategoryId(pub u16);

/// Which kind of matcher decided, without its details (what a job stores).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MatchKind {
    Caller,
    Type,
    TypeContains,
    Message,
    Http,
    Grpc,
    #[default]
    Nothing,
}

/// What made a rule match, for the decision's explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Matched {
    Caller(bool),
    Type(usize),
    TypeContains(usize),
    Message(usize),
    Http(u16),
    Grpc(u8),
    Nothing,
}

impl Matched {
    pub fn kind(self) -> MatchKind {
        match self {
            Matched::Caller(_) => MatchKind::Caller,
            Matched::Type(_) => MatchKind::Type,
            Matched::TypeContains(_) => MatchKind::TypeContains,
            Matched::Message(_) => MatchKind::Message,
            Matched::Http(_) => MatchKind::Http,
            Matched::Grpc(_) => MatchKind::Grpc,
            Matched::Nothing => MatchKind::Nothing,
        }
    }
}

/// The result of classifying one error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Classification {
    pub class: ErrorClass,
    pub category: CategoryId,
    /// Index in `Classifier::rules`; `None` when nothing matched or the
    /// caller's verdict decided.
    pub rule: Option<u16>,
    pub matched: Matched,
}

/// "rule `timeout`: type TimeoutError", "no rule matched", ...
pub struct Describe<'a> {
    rule: Option<&'a Rule>,
    matched: Matched,
}

impl fmt::Display for Describe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One text for both: `push_to` is what explanations use.
        let mut s = String::with_capacity(64);
        self.push_to(&mut s);
        f.write_str(&s)
    }
}

impl Describe<'_> {
    /// Appends what `Display` writes, without a `Formatter`.
    pub fn push_to(&self, s: &mut String) {
        let bool_str = |v: bool| if v { "true" } else { "false" };
        let Some(rule) = self.rule else {
            match self.matched {
                Matched::Caller(v) => {
                    s.push_str("the caller's verdict retryable=");
                    s.push_str(bool_str(v));
                }
                _ => s.push_str("no rule matched"),
            }
            return;
        };
        s.push_str(if rule.builtin {
            "built-in rule `"
        } else {
            "rule `"
        });
        s.push_str(&rule.category);
        s.push_str("`: ");
        match self.matched {
            Matched::Type(i) => {
                s.push_str("type ");
                s.push_str(&rule.types[i]);
            }
            Matched::TypeContains(i) => {
                s.push_str("type contains \"");
                s.push_str(&rule.type_contains[i]);
                s.push('"');
            }
            Matched::Message(i) => {
                s.push_str("message matches /");
                s.push_str(&rule.message_regex[i]);
                s.push('/');
            }
            Matched::Http(code) => {
                s.push_str("HTTP ");
                crate::push_u64(s, u64::from(code));
            }
            Matched::Grpc(c) => {
                s.push_str("gRPC ");
                s.push_str(grpc_code_name(c));
            }
            Matched::Caller(v) => {
                s.push_str("the caller's verdict retryable=");
                s.push_str(bool_str(v));
            }
            Matched::Nothing => s.push_str("a matcher no longer found in the kept error"),
        }
    }
}

/// Reference to the earliest rule found so far and what matched in it.
type Hit = (usize, Matched);

fn earlier(a: Option<Hit>, b: Option<Hit>) -> Option<Hit> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The compiled rule list (cheap to clone: the compiled regexes are shared).
#[derive(Clone, Debug)]
pub struct Classifier {
    rules: Vec<Rule>,
    /// Each rule's category.
    rule_category: Vec<CategoryId>,
    /// Category names by id.
    categories: Vec<Arc<str>>,
    /// Each rule's patterns compiled one by one: says which one matched a kept message.
    rule_regexes: Vec<Vec<regex::Regex>>,
    /// Where the caller's verdict sits: after configured rules, before built-ins.
    caller_at: usize,
    caller: CategoryId,
    unknown: CategoryId,
    /// foldhash: every classification looks a type name up here.
    by_type: HashMap<String, (usize, usize), foldhash::fast::RandomState>,
    contains: Vec<(usize, usize, String)>,
    http: Vec<Option<usize>>,
    grpc: [Option<usize>; 17],
    messages: RegexSet,
    message_owner: Vec<(usize, usize)>,
    first_message_rule: usize,
}

/// Type names longer than this are lower-cased on the heap; shorter ones on the stack.
const STACK_NAME: usize = 128;

impl Classifier {
    /// Configured rules first, then the caller's verdict, then the built-ins.
    pub fn new(configured: Vec<Rule>) -> Result<Classifier, regex::Error> {
        let caller_at = configured.len();
        let mut rules = configured;
        rules.extend(builtin_rules());

        // Rule indices here count the caller's verdict as a rule of its own.
        let index = |i: usize| if i < caller_at { i } else { i + 1 };

        let mut by_type = HashMap::with_hasher(foldhash::fast::RandomState::default());
        let mut contains = Vec::new();
        let mut http = vec![None; 600];
        let mut grpc = [None; 17];
        let mut patterns = Vec::new();
        let mut message_owner = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let r = index(i);
            for (k, t) in rule.types.iter().enumerate() {
                by_type.entry(t.to_lowercase()).or_insert((r, k));
            }
            for (k, t) in rule.type_contains.iter().enumerate() {
                contains.push((r, k, t.to_lowercase()));
            }
            for &(lo, hi) in &rule.http_status {
                for s in lo..=hi.min(599) {
                    http[usize::from(s)].get_or_insert(r);
                }
            }
            for &c in &rule.grpc_codes {
                if let Some(slot) = grpc.get_mut(usize::from(c)) {
                    slot.get_or_insert(r);
                }
            }
            for (k, p) in rule.message_regex.iter().enumerate() {
                patterns.push(p.as_str());
                message_owner.push((r, k));
            }
        }
        let messages = RegexSetBuilder::new(&patterns)
            .case_insensitive(true)
            .build()?;
        let first_message_rule = message_owner.first().map_or(usize::MAX, |o| o.0);
        let mut categories: Vec<Arc<str>> = Vec::new();
        let mut id_of = |name: &str| {
            let i = categories
                .iter()
                .position(|c| &**c == name)
                .unwrap_or_else(|| {
                    categories.push(Arc::from(name));
                    categories.len() - 1
                });
            CategoryId(u16::try_from(i).unwrap_or(u16::MAX))
        };
        let caller = id_of("caller");
        let unknown = id_of("unknown");
        let rule_category = rules.iter().map(|r| id_of(&r.category)).collect();
        let rule_regexes = rules
            .iter()
            .map(|r| {
                r.message_regex
                    .iter()
                    .map(|p| regex::RegexBuilder::new(p).case_insensitive(true).build())
                    .collect::<Result<Vec<_>, _>>()
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Classifier {
            rules,
            rule_category,
            categories,
            rule_regexes,
            caller_at,
            caller,
            unknown,
            by_type,
            contains,
            http,
            grpc,
            messages,
            message_owner,
            first_message_rule,
        })
    }

    /// Every rule in match order, the caller's verdict excepted.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Index in `rules` of a match-order index (which counts the caller's verdict).
    fn rule_index(&self, r: usize) -> usize {
        if r < self.caller_at { r } else { r - 1 }
    }

    pub fn classify(&self, e: &ErrorReport<'_>) -> Classification {
        let mut best: Option<Hit> = None;
        if let Some(v) = e.retryable {
            best = Some((self.caller_at, Matched::Caller(v)));
        }
        if !e.type_name.is_empty() {
            best = earlier(best, self.match_type(e.type_name));
        }
        if e.http_status != 0 {
            let hit = self.http.get(usize::from(e.http_status)).copied().flatten();
            best = earlier(best, hit.map(|r| (r, Matched::Http(e.http_status))));
        }
        if e.grpc_code != 0 {
            let hit = self.grpc.get(usize::from(e.grpc_code)).copied().flatten();
            best = earlier(best, hit.map(|r| (r, Matched::Grpc(e.grpc_code))));
        }
        let bound = best.map_or(usize::MAX, |b| b.0);
        if !e.message.is_empty() && self.first_message_rule < bound {
            let hit = self
                .messages
                .matches(e.message)
                .iter()
                .map(|p| self.message_owner[p])
                .min()
                .map(|(r, k)| (r, Matched::Message(k)));
            best = earlier(best, hit);
        }
        match best {
            Some((_, Matched::Caller(v))) => Classification {
                class: if v {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Permanent
                },
                category: self.caller,
                rule: None,
                matched: Matched::Caller(v),
            },
            Some((r, matched)) => {
                let i = self.rule_index(r);
                Classification {
                    class: self.rules[i].class,
                    category: self.rule_category[i],
                    rule: u16::try_from(i).ok(),
                    matched,
                }
            }
            None => Classification {
                class: ErrorClass::Unknown,
                category: self.unknown,
                rule: None,
                matched: Matched::Nothing,
            },
        }
    }

    /// A rule's name that stays the same for the same configuration:
    /// `rules[2]:docker` for the third configured rule, `builtin:4:network`
    /// for the fifth built-in one. Records that leave the process keep it,
    /// and `rule_by_key` finds the rule again only if it is still the same.
    pub fn rule_key(&self, i: usize) -> String {
        let Some(rule) = self.rules.get(i) else {
            return String::new();
        };
        if i < self.caller_at {
            format!("rules[{i}]:{}", rule.category)
        } else {
            format!("builtin:{}:{}", i - self.caller_at, rule.category)
        }
    }

    /// The index of the rule `rule_key` named, if it is still that rule.
    pub fn rule_by_key(&self, key: &str) -> Option<u16> {
        let (place, category) = key.split_once(':').and_then(|(a, rest)| {
            if a == "builtin" {
                let (n, c) = rest.split_once(':')?;
                Some((self.caller_at + n.parse::<usize>().ok()?, c))
            } else {
                let n = a.strip_prefix("rules[")?.strip_suffix(']')?;
                let n = n.parse::<usize>().ok()?;
                (n < self.caller_at).then_some((n, rest))
            }
        })?;
        let rule = self.rules.get(place)?;
        (&*rule.category == category)
            .then(|| u16::try_from(place).ok())
            .flatten()
    }

    /// The id of a category name (`unknown` for a name no rule has).
    pub fn category_id(&self, name: &str) -> CategoryId {
        self.categories
            .iter()
            .position(|c| &**c == name)
            .and_then(|i| u16::try_from(i).ok())
            .map_or(self.unknown, CategoryId)
    }

    pub fn category_name(&self, id: CategoryId) -> &str {
        self.categories
            .get(usize::from(id.0))
            .map_or("unknown", |c| c)
    }

    /// Every category name, by id.
    pub fn categories(&self) -> &[Arc<str>] {
        &self.categories
    }

    /// Explains a classification.
    pub fn describe(&self, c: &Classification) -> Describe<'_> {
        Describe {
            rule: c.rule.and_then(|r| self.rules.get(usize::from(r))),
            matched: c.matched,
        }
    }

    /// Explains a stored match: which of the rule's matchers of `kind` the
    /// kept error satisfies (a job keeps the kind, not the details).
    pub fn describe_stored(
        &self,
        rule: Option<u16>,
        kind: MatchKind,
        e: &ErrorReport<'_>,
    ) -> Describe<'_> {
        let r = rule.and_then(|r| self.rules.get(usize::from(r)));
        let matched = match (r, kind) {
            (_, MatchKind::Caller) => Matched::Caller(e.retryable.unwrap_or(false)),
            (_, MatchKind::Http) => Matched::Http(e.http_status),
            (_, MatchKind::Grpc) => Matched::Grpc(e.grpc_code),
            (Some(r), MatchKind::Type) => {
                let last = last_segment(e.type_name).to_lowercase();
                r.types
                    .iter()
                    .position(|t| t.to_lowercase() == last)
                    .map_or(Matched::Nothing, Matched::Type)
            }
            (Some(r), MatchKind::TypeContains) => {
                let lower = e.type_name.to_lowercase();
                r.type_contains
                    .iter()
                    .position(|t| lower.contains(&t.to_lowercase()))
                    .map_or(Matched::Nothing, Matched::TypeContains)
            }
            (Some(_), MatchKind::Message) => rule
                .and_then(|i| self.rule_regexes.get(usize::from(i)))
                .and_then(|rs| rs.iter().position(|re| re.is_match(e.message)))
                .map_or(Matched::Nothing, Matched::Message),
            _ => Matched::Nothing,
        };
        Describe { rule: r, matched }
    }

    fn match_type(&self, type_name: &str) -> Option<Hit> {
        let last = last_segment(type_name);
        let exact = if last.len() <= STACK_NAME && last.is_ascii() {
            let mut buf = [0u8; STACK_NAME];
            let lower = &mut buf[..last.len()];
            lower.copy_from_slice(last.as_bytes());
            lower.make_ascii_lowercase();
            // ASCII in, ASCII out: always valid UTF-8.
            std::str::from_utf8(lower)
                .ok()
                .and_then(|l| self.by_type.get(l).copied())
        } else {
            self.by_type.get(&last.to_lowercase()).copied()
        };
        let mut best = exact.map(|(r, k)| (r, Matched::Type(k)));
        if !self.contains.is_empty() {
            let lower = type_name.to_lowercase();
            let bound = best.map_or(usize::MAX, |b| b.0);
            let hit = self
                .contains
                .iter()
                .take_while(|(r, _, _)| *r < bound)
                .find(|(_, _, needle)| lower.contains(needle.as_str()))
                .map(|&(r, k, _)| (r, Matched::TypeContains(k)));
            best = earlier(best, hit);
        }
        best
    }
}

#[cfg(test)]
mod tests;
