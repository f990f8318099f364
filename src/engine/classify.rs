//! Ordered classification rules: an error report in, `(ErrorClass, category)` out.
//!
//! Semantically the rules are a list and the first that matches wins
//! (DESIGN.md section 4). Walking that list for every report would be slow, so
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

    fn builtin(category: &str, class: ErrorClass) -> Self {
        Rule {
            builtin: true,
            ..Rule::new(category, class)
        }
    }

    fn types(mut self, names: &[&str]) -> Self {
        self.types = names.iter().map(|s| s.to_string()).collect();
        self
    }

    fn messages(mut self, patterns: &[&str]) -> Self {
        self.message_regex = patterns.iter().map(|s| s.to_string()).collect();
        self
    }

    fn grpc(mut self, names: &[&str]) -> Self {
        self.grpc_codes = names
            .iter()
            .filter_map(|n| grpc_code_from_name(n))
            .collect();
        self
    }

    fn http(mut self, ranges: &[(u16, u16)]) -> Self {
        self.http_status = ranges.to_vec();
        self
    }
}

/// The built-in rules of DESIGN.md section 4, in order, after the caller's verdict.
pub fn builtin_rules() -> Vec<Rule> {
    use ErrorClass::{Permanent as P, Transient as T};
    vec![
        // Permanent type names. Node.js and Ruby (`Errno::ENOENT`) name a
        // system error by its errno code.
        Rule::builtin("invalid_input", P).types(&[
            "ValidationError",
            "InvalidFileFormat",
            "UnsupportedFormat",
            "CorruptedFile",
            "InvalidFileType",
            "FileTooLarge",
        ]),
        Rule::builtin("not_found", P).types(&[
            "FileNotFoundError",
            // Java (java.io, java.nio.file) and .NET (System.IO).
            "FileNotFoundException",
            "NoSuchFileException",
            "ENOENT",
        ]),
        Rule::builtin("auth", P).types(&[
            "AuthenticationError",
            "AuthenticationFailed",
            "PermissionDenied",
            "PermissionError",
            // Java (java.nio.file) and .NET (System).
            "AccessDeniedException",
            "UnauthorizedAccessException",
            "EACCES",
            "EPERM",
        ]),
        // Transient type names.
        Rule::builtin("network", T).types(&[
            "ConnectionError",
            "S3ConnectionError",
            // Python: the subclasses of ConnectionError, and getaddrinfo's
            // socket.gaierror.
            "ConnectionResetError",
            "ConnectionRefusedError",
            "ConnectionAbortedError",
            "BrokenPipeError",
            "gaierror",
            // Python HTTP clients: httpx, aiohttp.
            "ConnectError",
            "RemoteProtocolError",
            "ClientConnectorError",
            "ServerDisconnectedError",
            // Java (java.net) and .NET (System.Net.Sockets.SocketException).
            // An unknown host is a permanent misconfiguration in some set-ups,
            // but DNS blips are common and pass: transient, like EAI_AGAIN.
            "ConnectException",
            "NoRouteToHostException",
            "UnknownHostException",
            "SocketException",
            // Node.js (err.code; the client sends it as the type) and Ruby
            // (Errno::ECONNRESET, SocketError). ENOTFOUND is getaddrinfo's
            // "no such host": transient for the same reason as above.
            "ECONNREFUSED",
            "ECONNRESET",
            "ECONNABORTED",
            "EPIPE",
            "EHOSTUNREACH",
            "ENETUNREACH",
            "ENETDOWN",
            "EAI_AGAIN",
            "ENOTFOUND",
            "SocketError",
            // undici (Node's fetch): the other side closed the socket.
            "UND_ERR_SOCKET",
        ]),
        Rule::builtin("timeout", T).types(&[
            "Timeout",
            "TimeoutError",
            "ReadTimeout",
            // Python: requests, httpx, urllib3, aiohttp; Celery's time limits.
            "ConnectTimeout",
            "WriteTimeout",
            "PoolTimeout",
            "ConnectTimeoutError",
            "ReadTimeoutError",
            "ServerTimeoutError",
            "SoftTimeLimitExceeded",
            "TimeLimitExceeded",
            // Java (java.net, java.util.concurrent, java.net.http, java.sql)
            // and .NET (System.TimeoutException; HttpClient's timeout raises
            // System.Threading.Tasks.TaskCanceledException).
            "SocketTimeoutException",
            "TimeoutException",
            "HttpTimeoutException",
            "HttpConnectTimeoutException",
            "SQLTimeoutException",
            "TaskCanceledException",
            // Node.js: errno, undici's timeouts, and fetch's AbortError (the
            // usual abort is a timer's; AbortSignal.timeout() itself gives
            // TimeoutError). Ruby: Net::OpenTimeout.
            "ETIMEDOUT",
            "ESOCKETTIMEDOUT",
            "UND_ERR_CONNECT_TIMEOUT",
            "UND_ERR_HEADERS_TIMEOUT",
            "UND_ERR_BODY_TIMEOUT",
            "AbortError",
            "OpenTimeout",
        ]),
        Rule::builtin("rate_limit", T).types(&["RateLimitError", "RateLimitExceeded"]),
        Rule::builtin("unavailable", T).types(&[
            "APIError",
            "ServiceUnavailable",
            "TemporaryFailure",
            // JDBC's transient family (e.g. a pool that timed out waiting
            // for a connection) and its "retry on a new connection".
            "SQLTransientConnectionException",
            "SQLTransientException",
            "SQLRecoverableException",
        ]),
        // gRPC codes.
        Rule::builtin("unavailable", T).grpc(&["UNAVAILABLE"]),
        Rule::builtin("timeout", T).grpc(&["DEADLINE_EXCEEDED"]),
        Rule::builtin("rate_limit", T).grpc(&["RESOURCE_EXHAUSTED"]),
        Rule::builtin("server_error", T).grpc(&["ABORTED", "INTERNAL", "UNKNOWN"]),
        Rule::builtin("auth", P).grpc(&["PERMISSION_DENIED", "UNAUTHENTICATED"]),
        Rule::builtin("client_error", P).grpc(&[
            "CANCELLED",
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "FAILED_PRECONDITION",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "DATA_LOSS",
        ]),
        // HTTP statuses.
        Rule::builtin("rate_limit", T).http(&[(429, 429)]),
        Rule::builtin("client_error", P).http(&[(400, 499)]),
        Rule::builtin("server_error", T).http(&[(500, 599)]),
        // .NET raises HttpRequestException for a failed connection and, from
        // EnsureSuccessStatusCode, for an error status: a status, when sent,
        // decides first (the rules above), so this type comes after them.
        Rule::builtin("network", T).types(&["HttpRequestException"]),
        // Message patterns, transient first: what the runtimes print when the
        // type says nothing (Node's `Error`, Go's `*url.Error`, `io::Error`).
        Rule::builtin("network", T).messages(&[
            "connection.*refused",
            "timeout.*connecting",
            "network.*timeout",
            "connection.*reset",
            "temporary failure in name resolution",
            // Node.js: `connect ECONNREFUSED 127.0.0.1:5432`, `read ECONNRESET`,
            // `write EPIPE`, `getaddrinfo EAI_AGAIN db`, `socket hang up`.
            r"\beconnrefused\b",
            r"\beconnreset\b",
            r"\beconnaborted\b",
            r"\bepipe\b",
            r"\behostunreach\b",
            r"\benetunreach\b",
            r"\beai_again\b",
            r"\benotfound\b",
            "socket hang up",
            "broken pipe",
            "no route to host",
            "network is unreachable",
            // Go's resolver (`lookup db on 10.0.0.10:53: no such host`) and
            // glibc's: transient, as for the DNS types above.
            "no such host",
            "name or service not known",
            // Go's io.ErrUnexpectedEOF: a connection closed mid-answer.
            "unexpected eof",
        ]),
        Rule::builtin("timeout", T).messages(&[
            // Go: `context deadline exceeded`, `dial tcp 10.0.0.1:5432: i/o timeout`.
            "deadline exceeded",
            "i/o timeout",
            // Node.js: errno, fetch's `The operation was aborted due to
            // timeout`, axios's `timeout of 500ms exceeded`.
            r"\betimedout\b",
            "aborted due to timeout",
            r"timeout of \d+ ?ms exceeded",
            // Java's `Read timed out`, Rust's `connection timed out`, ...
            "timed out",
        ]),
        Rule::builtin("docker", T).messages(&["docker.*daemon.*not.*running"]),
        Rule::builtin("resources", T).messages(&[
            "out of memory",
            "no space left",
            "resource temporarily unavailable",
            "system overloaded",
            "too many open files",
            "cannot allocate memory",
        ]),
        Rule::builtin("not_found", P).messages(&[
            "image.*not found",
            "no such image",
            "repository.*not found",
            "executable.*not found",
            "command.*not found",
        ]),
        Rule::builtin("config", P).messages(&["invalid.*configuration", "invalid.*command"]),
        Rule::builtin("auth", P).messages(&[
            "permission denied",
            "access denied",
            "authorization.*failed",
        ]),
    ]
}

const GRPC_CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// The canonical name of a numeric gRPC code (`14` → `UNAVAILABLE`).
pub fn grpc_code_name(code: u8) -> &'static str {
    GRPC_CODES
        .get(usize::from(code))
        .copied()
        .unwrap_or("INVALID")
}

/// `"unavailable"`, `"UNAVAILABLE"` or `"14"` → 14.
pub fn grpc_code_from_name(name: &str) -> Option<u8> {
    if let Ok(n) = name.parse::<u8>() {
        return (usize::from(n) < GRPC_CODES.len()).then_some(n);
    }
    GRPC_CODES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .and_then(|i| u8::try_from(i).ok())
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
        let Some(rule) = self.rule else {
            return match self.matched {
                Matched::Caller(v) => write!(f, "the caller's verdict retryable={v}"),
                _ => f.write_str("no rule matched"),
            };
        };
        let origin = if rule.builtin {
            "built-in rule"
        } else {
            "rule"
        };
        write!(f, "{origin} `{}`: ", rule.category)?;
        match self.matched {
            Matched::Type(i) => write!(f, "type {}", rule.types[i]),
            Matched::TypeContains(i) => write!(f, "type contains \"{}\"", rule.type_contains[i]),
            Matched::Message(i) => write!(f, "message matches /{}/", rule.message_regex[i]),
            Matched::Http(s) => write!(f, "HTTP {s}"),
            Matched::Grpc(c) => write!(f, "gRPC {}", grpc_code_name(c)),
            Matched::Caller(v) => write!(f, "the caller's verdict retryable={v}"),
            Matched::Nothing => f.write_str("a matcher no longer found in the kept error"),
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
mod tests {
    use super::*;

    fn builtins() -> Classifier {
        Classifier::new(Vec::new()).expect("built-in rules compile")
    }

    fn report<'a>(type_name: &'a str, message: &'a str, http: u16, grpc: u8) -> ErrorReport<'a> {
        ErrorReport {
            type_name,
            message,
            http_status: http,
            grpc_code: grpc,
            retryable: None,
        }
    }

    fn class_of(c: &Classifier, e: ErrorReport<'_>) -> (ErrorClass, String) {
        let got = c.classify(&e);
        (got.class, c.category_name(got.category).to_string())
    }

    fn describe(c: &Classifier, e: ErrorReport<'_>) -> String {
        c.describe(&c.classify(&e)).to_string()
    }

    #[test]
    fn every_builtin_permanent_type_is_permanent() {
        let c = builtins();
        for t in [
            "ValidationError",
            "FileNotFoundError",
            "InvalidFileFormat",
            "AuthenticationError",
            "AuthenticationFailed",
            "PermissionDenied",
            "UnsupportedFormat",
            "CorruptedFile",
            "InvalidFileType",
            "FileTooLarge",
        ] {
            assert_eq!(
                c.classify(&report(t, "", 0, 0)).class,
                ErrorClass::Permanent,
                "{t}"
            );
        }
    }

    #[test]
    fn every_builtin_transient_type_is_transient() {
        let c = builtins();
        for t in [
            "ConnectionError",
            "Timeout",
            "TimeoutError",
            "ReadTimeout",
            "APIError",
            "RateLimitError",
            "RateLimitExceeded",
            "ServiceUnavailable",
            "TemporaryFailure",
            "S3ConnectionError",
        ] {
            assert_eq!(
                c.classify(&report(t, "", 0, 0)).class,
                ErrorClass::Transient,
                "{t}"
            );
        }
    }

    #[test]
    fn type_names_match_last_segment_case_insensitively() {
        let c = builtins();
        for t in [
            "requests.exceptions.ConnectionError",
            "connectionerror",
            "CONNECTIONERROR",
            "aiohttp::ConnectionError",
            "com.example.Outer$ConnectionError",
        ] {
            assert_eq!(
                class_of(&c, report(t, "", 0, 0)),
                (ErrorClass::Transient, "network".into()),
                "{t}"
            );
        }
        // A type that merely contains a known name is not an exact match.
        assert_eq!(
            c.classify(&report("MyConnectionErrorX", "", 0, 0)).class,
            ErrorClass::Unknown
        );
        // Not on a middle segment either.
        assert_eq!(
            c.classify(&report("ConnectionError.Wrapper", "", 0, 0))
                .class,
            ErrorClass::Unknown
        );
    }

    #[test]
    fn http_statuses() {
        let c = builtins();
        assert_eq!(
            class_of(&c, report("", "", 429, 0)),
            (ErrorClass::Transient, "rate_limit".into())
        );
        for s in [400, 401, 403, 404, 408, 422, 499] {
            assert_eq!(
                class_of(&c, report("", "", s, 0)),
                (ErrorClass::Permanent, "client_error".into()),
                "{s}"
            );
        }
        for s in [500, 502, 503, 504, 599] {
            assert_eq!(
                class_of(&c, report("", "", s, 0)),
                (ErrorClass::Transient, "server_error".into()),
                "{s}"
            );
        }
        for s in [200, 301, 100] {
            assert_eq!(
                c.classify(&report("", "", s, 0)).class,
                ErrorClass::Unknown,
                "{s}"
            );
        }
    }

    #[test]
    fn grpc_codes() {
        let c = builtins();
        for name in [
            "UNAVAILABLE",
            "DEADLINE_EXCEEDED",
            "RESOURCE_EXHAUSTED",
            "ABORTED",
            "INTERNAL",
            "UNKNOWN",
        ] {
            let code = grpc_code_from_name(name).expect("known code");
            assert_eq!(
                c.classify(&report("", "", 0, code)).class,
                ErrorClass::Transient,
                "{name}"
            );
        }
        for name in [
            "CANCELLED",
            "INVALID_ARGUMENT",
            "NOT_FOUND",
            "ALREADY_EXISTS",
            "PERMISSION_DENIED",
            "FAILED_PRECONDITION",
            "OUT_OF_RANGE",
            "UNIMPLEMENTED",
            "DATA_LOSS",
            "UNAUTHENTICATED",
        ] {
            let code = grpc_code_from_name(name).expect("known code");
            assert_eq!(
                c.classify(&report("", "", 0, code)).class,
                ErrorClass::Permanent,
                "{name}"
            );
        }
        assert_eq!(grpc_code_from_name("unavailable"), Some(14));
        assert_eq!(grpc_code_from_name("14"), Some(14));
        assert_eq!(grpc_code_from_name("17"), None);
        assert_eq!(grpc_code_from_name("NOPE"), None);
        assert_eq!(grpc_code_name(14), "UNAVAILABLE");
    }

    #[test]
    fn message_patterns_transient_before_permanent() {
        let c = builtins();
        assert_eq!(
            class_of(&c, report("", "Connection to 10.0.0.1 was REFUSED", 0, 0)),
            (ErrorClass::Transient, "network".into())
        );
        assert_eq!(
            class_of(
                &c,
                report(
                    "",
                    "docker: Cannot connect, is the docker daemon not running?",
                    0,
                    0
                )
            ),
            (ErrorClass::Transient, "docker".into())
        );
        assert_eq!(
            class_of(
                &c,
                report("", "write failed: no space left on device", 0, 0)
            ),
            (ErrorClass::Transient, "resources".into())
        );
        assert_eq!(
            class_of(&c, report("", "Error: No such image: foo:latest", 0, 0)),
            (ErrorClass::Permanent, "not_found".into())
        );
        assert_eq!(
            class_of(&c, report("", "open /etc/x: Permission denied", 0, 0)),
            (ErrorClass::Permanent, "auth".into())
        );
        // Both a transient and a permanent pattern: transient comes first.
        assert_eq!(
            c.classify(&report(
                "",
                "permission denied, then connection reset",
                0,
                0
            ))
            .class,
            ErrorClass::Transient
        );
        assert_eq!(
            c.classify(&report("", "something odd", 0, 0)).class,
            ErrorClass::Unknown
        );
    }

    #[test]
    fn builtin_order_type_before_grpc_before_http_before_message() {
        let c = builtins();
        // Permanent type beats a transient HTTP status.
        assert_eq!(
            c.classify(&report("ValidationError", "", 503, 0)).class,
            ErrorClass::Permanent
        );
        // Transient type beats a permanent HTTP status.
        assert_eq!(
            c.classify(&report("Timeout", "", 404, 0)).class,
            ErrorClass::Transient
        );
        // gRPC before HTTP.
        assert_eq!(
            c.classify(&report("", "", 503, 3)).class,
            ErrorClass::Permanent
        );
        // HTTP before message patterns.
        assert_eq!(
            c.classify(&report("", "connection refused", 404, 0)).class,
            ErrorClass::Permanent
        );
        // Unknown type falls through to the message.
        assert_eq!(
            class_of(&c, report("WeirdError", "network timeout after 30s", 0, 0)),
            (ErrorClass::Transient, "network".into())
        );
    }

    #[test]
    fn caller_verdict_comes_after_configured_rules_and_before_builtins() {
        let mut configured = Rule::new("flaky_vendor", ErrorClass::Transient);
        configured.types = vec!["VendorError".into()];
        let c = Classifier::new(vec![configured]).expect("compiles");

        let mut e = report("ValidationError", "", 0, 0);
        e.retryable = Some(true);
        assert_eq!(class_of(&c, e), (ErrorClass::Transient, "caller".into()));

        let mut e = report("ConnectionError", "", 503, 0);
        e.retryable = Some(false);
        assert_eq!(class_of(&c, e), (ErrorClass::Permanent, "caller".into()));

        let mut e = report("vendor.VendorError", "", 0, 0);
        e.retryable = Some(false);
        assert_eq!(
            class_of(&c, e),
            (ErrorClass::Transient, "flaky_vendor".into())
        );
    }

    #[test]
    fn configured_rules_come_first_and_match_any_matcher() {
        let mut docker = Rule::new("docker", ErrorClass::Permanent);
        docker.message_regex = vec!["connection.*refused".into()];
        let mut quota = Rule::new("quota", ErrorClass::Transient);
        quota.http_status = vec![(403, 403)];
        quota.grpc_codes = vec![7];
        quota.type_contains = vec!["quota".into()];
        let c = Classifier::new(vec![docker, quota]).expect("compiles");

        // Configured message rule beats the built-in transient pattern and type.
        assert_eq!(
            class_of(&c, report("ConnectionError", "Connection Refused", 0, 0)),
            (ErrorClass::Permanent, "docker".into())
        );
        assert_eq!(
            class_of(&c, report("", "", 403, 0)),
            (ErrorClass::Transient, "quota".into())
        );
        assert_eq!(
            class_of(&c, report("", "", 0, 7)),
            (ErrorClass::Transient, "quota".into())
        );
        assert_eq!(
            class_of(&c, report("google.api.QuotaExceededError", "", 0, 0)),
            (ErrorClass::Transient, "quota".into())
        );
        // Other statuses still reach the built-ins.
        assert_eq!(
            class_of(&c, report("", "", 404, 0)),
            (ErrorClass::Permanent, "client_error".into())
        );
    }

    #[test]
    fn explanation_names_rule_and_matcher() {
        let c = builtins();
        assert_eq!(
            describe(&c, report("x.TimeoutError", "", 0, 0)),
            "built-in rule `timeout`: type TimeoutError"
        );
        assert_eq!(
            describe(&c, report("", "", 503, 0)),
            "built-in rule `server_error`: HTTP 503"
        );
        assert_eq!(
            describe(&c, report("", "", 0, 14)),
            "built-in rule `unavailable`: gRPC UNAVAILABLE"
        );
        assert_eq!(
            describe(&c, report("", "connection reset by peer", 0, 0)),
            "built-in rule `network`: message matches /connection.*reset/"
        );
        assert_eq!(describe(&c, report("", "?", 0, 0)), "no rule matched");
    }

    #[test]
    fn stored_matches_are_described_from_the_kept_error() {
        let c = builtins();
        for e in [
            report("x.TimeoutError", "", 0, 0),
            report("", "", 503, 0),
            report("", "", 0, 14),
            report("", "connection reset by peer", 0, 0),
            report("", "?", 0, 0),
        ] {
            let cls = c.classify(&e);
            let stored = c
                .describe_stored(cls.rule, cls.matched.kind(), &e)
                .to_string();
            assert_eq!(stored, c.describe(&cls).to_string());
        }
        let mut e = report("ValidationError", "", 0, 0);
        e.retryable = Some(true);
        let cls = c.classify(&e);
        assert_eq!(
            c.describe_stored(cls.rule, cls.matched.kind(), &e)
                .to_string(),
            "the caller's verdict retryable=true"
        );
    }

    /// Each error as its runtime prints it: `(type, message, HTTP, class, category)`.
    /// A type that says nothing (Node's `Error`, Go's `*url.Error`) leaves
    /// the message to decide.
    #[test]
    fn errors_of_every_runtime_are_classified() {
        use ErrorClass::{Permanent as P, Transient as T};
        let c = builtins();
        let cases: &[(&str, &str, u16, ErrorClass, &str)] = &[
            // Node.js: the type as `err.name` (`Error`) with the message, and
            // as `err.code`, which the Node client sends.
            (
                "Error",
                "connect ECONNREFUSED 127.0.0.1:5432",
                0,
                T,
                "network",
            ),
            (
                "ECONNREFUSED",
                "connect ECONNREFUSED 127.0.0.1:5432",
                0,
                T,
                "network",
            ),
            ("Error", "read ECONNRESET", 0, T, "network"),
            ("ECONNRESET", "read ECONNRESET", 0, T, "network"),
            ("Error", "getaddrinfo EAI_AGAIN db", 0, T, "network"),
            ("EAI_AGAIN", "getaddrinfo EAI_AGAIN db", 0, T, "network"),
            ("Error", "getaddrinfo ENOTFOUND db", 0, T, "network"),
            ("Error", "write EPIPE", 0, T, "network"),
            ("EPIPE", "write EPIPE", 0, T, "network"),
            ("Error", "socket hang up", 0, T, "network"),
            ("Error", "connect ETIMEDOUT 10.0.0.1:443", 0, T, "timeout"),
            (
                "ETIMEDOUT",
                "connect ETIMEDOUT 10.0.0.1:443",
                0,
                T,
                "timeout",
            ),
            ("AbortError", "This operation was aborted", 0, T, "timeout"),
            (
                "TimeoutError",
                "The operation was aborted due to timeout",
                0,
                T,
                "timeout",
            ),
            (
                "Error",
                "The operation was aborted due to timeout",
                0,
                T,
                "timeout",
            ),
            (
                "UND_ERR_CONNECT_TIMEOUT",
                "fetch failed: Connect Timeout Error",
                0,
                T,
                "timeout",
            ),
            (
                "UND_ERR_SOCKET",
                "fetch failed: other side closed",
                0,
                T,
                "network",
            ),
            ("AxiosError", "timeout of 500ms exceeded", 0, T, "timeout"),
            (
                "ENOENT",
                "ENOENT: no such file or directory, open '/data/x.csv'",
                0,
                P,
                "not_found",
            ),
            (
                "EACCES",
                "EACCES: permission denied, open '/data/x.csv'",
                0,
                P,
                "auth",
            ),
            // An axios error with a response: the status decides.
            (
                "AxiosError",
                "Request failed with status code 503",
                503,
                T,
                "server_error",
            ),
            (
                "AxiosError",
                "Request failed with status code 404",
                404,
                P,
                "client_error",
            ),
            // Go: errors carry no useful type; the message decides.
            (
                "*url.Error",
                "Get \"http://db/\": context deadline exceeded",
                0,
                T,
                "timeout",
            ),
            ("", "context deadline exceeded", 0, T, "timeout"),
            (
                "*net.OpError",
                "dial tcp 10.0.0.1:5432: i/o timeout",
                0,
                T,
                "timeout",
            ),
            (
                "*net.OpError",
                "read tcp 10.0.0.2:41234->10.0.0.1:5432: read: connection reset by peer",
                0,
                T,
                "network",
            ),
            (
                "*net.OpError",
                "dial tcp: lookup db on 10.0.0.10:53: no such host",
                0,
                T,
                "network",
            ),
            ("", "unexpected EOF", 0, T, "network"),
            (
                "",
                "write tcp 10.0.0.2:41234->10.0.0.1:5432: write: broken pipe",
                0,
                T,
                "network",
            ),
            // Java.
            (
                "java.net.SocketTimeoutException",
                "Read timed out",
                0,
                T,
                "timeout",
            ),
            (
                "java.net.ConnectException",
                "Connection refused",
                0,
                T,
                "network",
            ),
            ("java.net.UnknownHostException", "db", 0, T, "network"),
            (
                "java.net.SocketException",
                "Connection reset",
                0,
                T,
                "network",
            ),
            (
                "java.sql.SQLTransientConnectionException",
                "HikariPool-1 - Connection is not available, request timed out after 30000ms.",
                0,
                T,
                "unavailable",
            ),
            ("java.util.concurrent.TimeoutException", "", 0, T, "timeout"),
            (
                "java.io.FileNotFoundException",
                "/data/x.csv (No such file or directory)",
                0,
                P,
                "not_found",
            ),
            // .NET.
            (
                "System.Net.Http.HttpRequestException",
                "Connection refused (db:5432)",
                0,
                T,
                "network",
            ),
            // With a status (EnsureSuccessStatusCode), the status decides.
            (
                "System.Net.Http.HttpRequestException",
                "Response status code does not indicate success: 404 (Not Found).",
                404,
                P,
                "client_error",
            ),
            (
                "System.Threading.Tasks.TaskCanceledException",
                "The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing.",
                0,
                T,
                "timeout",
            ),
            (
                "System.TimeoutException",
                "The operation has timed out.",
                0,
                T,
                "timeout",
            ),
            (
                "System.Net.Sockets.SocketException",
                "No such host is known.",
                0,
                T,
                "network",
            ),
            (
                "System.UnauthorizedAccessException",
                "Access to the path is denied.",
                0,
                P,
                "auth",
            ),
            // Python.
            (
                "ConnectionResetError",
                "[Errno 104] Connection reset by peer",
                0,
                T,
                "network",
            ),
            (
                "builtins.BrokenPipeError",
                "[Errno 32] Broken pipe",
                0,
                T,
                "network",
            ),
            (
                "ConnectionRefusedError",
                "[Errno 111] Connection refused",
                0,
                T,
                "network",
            ),
            (
                "socket.gaierror",
                "[Errno -2] Name or service not known",
                0,
                T,
                "network",
            ),
            (
                "celery.exceptions.SoftTimeLimitExceeded",
                "SoftTimeLimitExceeded()",
                0,
                T,
                "timeout",
            ),
            (
                "httpx.ConnectError",
                "[Errno 111] Connection refused",
                0,
                T,
                "network",
            ),
            ("httpx.ConnectTimeout", "timed out", 0, T, "timeout"),
            ("requests.exceptions.ConnectTimeout", "", 0, T, "timeout"),
            (
                "httpx.HTTPStatusError",
                "Server error '503 Service Unavailable'",
                503,
                T,
                "server_error",
            ),
            (
                "PermissionError",
                "[Errno 13] Permission denied: '/data'",
                0,
                P,
                "auth",
            ),
            // Ruby: Errno::X is matched on its last segment.
            (
                "Errno::ECONNREFUSED",
                "Connection refused - connect(2) for \"db\" port 5432",
                0,
                T,
                "network",
            ),
            ("Net::OpenTimeout", "execution expired", 0, T, "timeout"),
            // Rust.
            (
                "std::io::Error",
                "Broken pipe (os error 32)",
                0,
                T,
                "network",
            ),
            ("std::io::Error", "connection timed out", 0, T, "timeout"),
        ];
        for &(t, m, http, class, category) in cases {
            assert_eq!(
                class_of(&c, report(t, m, http, 0)),
                (class, category.to_string()),
                "{t}: {m}"
            );
        }
    }

    #[test]
    fn new_patterns_keep_to_whole_words() {
        let c = builtins();
        // errno names only as words: not inside other words.
        for m in [
            "depipeline failed",
            "reconnresetting",
            "the setimedout flag",
        ] {
            assert_eq!(
                c.classify(&report("", m, 0, 0)).class,
                ErrorClass::Unknown,
                "{m}"
            );
        }
        // A permanent type still beats a transient message.
        assert_eq!(
            class_of(&c, report("ValidationError", "upstream timed out", 0, 0)),
            (ErrorClass::Permanent, "invalid_input".into())
        );
        // The explanation names the pattern that matched.
        assert_eq!(
            describe(
                &c,
                report("Error", "connect ECONNREFUSED 127.0.0.1:5432", 0, 0)
            ),
            "built-in rule `network`: message matches /\\beconnrefused\\b/"
        );
        assert_eq!(
            describe(&c, report("", "context deadline exceeded", 0, 0)),
            "built-in rule `timeout`: message matches /deadline exceeded/"
        );
        assert_eq!(
            describe(&c, report("ECONNRESET", "read ECONNRESET", 0, 0)),
            "built-in rule `network`: type ECONNRESET"
        );
    }

    #[test]
    fn non_ascii_and_long_type_names() {
        let mut r = Rule::new("odd", ErrorClass::Transient);
        r.types = vec!["ÉchecRéseau".into()];
        let c = Classifier::new(vec![r]).expect("compiles");
        assert_eq!(
            c.classify(&report("app.échecréseau", "", 0, 0)).class,
            ErrorClass::Transient
        );
        let long = "x".repeat(1000);
        assert_eq!(
            c.classify(&report(&long, "", 0, 0)).class,
            ErrorClass::Unknown
        );
    }
}
