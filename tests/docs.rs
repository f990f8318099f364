//! The documentation in `docs/` against the code, so that it cannot drift:
//!
//! - every configuration key documented in docs/configuration.md is accepted
//!   by `Config::from_toml` (a minimal file per key, from the example value of
//!   its row), its documented default is the code's, and every key the
//!   configuration's `Raw*` structs accept is documented;
//! - every flag, variable and command of `retryd --help` is documented;
//! - every metric of src/metrics/names.rs is in docs/metrics.md, and every metric
//!   named there exists;
//! - every RPC, message, field and enum value of the proto, and every field
//!   src/server/ validates, is in docs/api.md;
//! - the built-in rules and policies tables of docs/decisions.md are the
//!   code's, row by row;
//! - every relative link (and its anchor) in README.md, BENCHMARKS.md and
//!   docs/*.md resolves, and none of them refers to a document outside the
//!   repository.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use regex::Regex;
use retryd::config::Config;
use retryd::engine::{Human, Policy};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
}

/// The text without its fenced code blocks (their lines become empty).
fn prose(md: &str) -> String {
    let mut fenced = false;
    md.lines()
        .map(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
                ""
            } else if fenced {
                ""
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Markdown table: its header cells and its rows' cells.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

/// Splits a table line on `|`, except an escaped `\|`.
fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '|' => out.push(std::mem::take(&mut cell).trim().to_string()),
            c => cell.push(c),
        }
    }
    out.push(cell.trim().to_string());
    out
}

fn tables(md: &str) -> Vec<Table> {
    let mut out: Vec<Table> = Vec::new();
    let mut current: Option<Table> = None;
    for line in prose(md).lines() {
        if !line.trim_start().starts_with('|') {
            out.extend(current.take());
            continue;
        }
        let c = cells(line);
        if c.iter()
            .all(|x| !x.is_empty() && x.chars().all(|ch| ch == '-'))
        {
            continue;
        }
        match &mut current {
            None => {
                current = Some(Table {
                    header: c,
                    rows: Vec::new(),
                })
            }
            Some(t) => t.rows.push(c),
        }
    }
    out.extend(current);
    out
}

/// The text of a cell that is exactly one code span.
fn code(cell: &str) -> Option<&str> {
    let inner = cell.strip_prefix('`')?.strip_suffix('`')?;
    (!inner.contains('`')).then_some(inner)
}

/// Every code span of a cell.
fn spans(cell: &str) -> BTreeSet<String> {
    re(r"`([^`]+)`")
        .captures_iter(cell)
        .map(|c| c[1].to_string())
        .collect()
}

// ---- configuration ----------------------------------------------------------

/// A documented key: its path, example value and default cell.
struct DocKey {
    key: String,
    example: String,
    default: String,
}

fn documented_keys() -> Vec<DocKey> {
    let key_shape = re(
        r"^((server|state|delivery|policies|job_types|priority_bands|rules|budgets|breakers)[.\[]|pause_recheck$)",
    );
    let mut keys = Vec::new();
    for t in tables(&read("docs/configuration.md")) {
        if t.header.first().map(String::as_str) != Some("key") {
            continue;
        }
        let col = |name: &str| {
            t.header
                .iter()
                .position(|h| h == name)
                .unwrap_or_else(|| panic!("a key table without a `{name}` column"))
        };
        let (example, default) = (col("example"), col("default"));
        for row in &t.rows {
            let key = code(&row[0]).unwrap_or_else(|| panic!("key cell {:?}", row[0]));
            assert!(key_shape.is_match(key), "not a configuration key: {key}");
            let example = code(&row[example])
                .unwrap_or_else(|| panic!("{key}: the example must be one code span"));
            keys.push(DocKey {
                key: key.to_string(),
                example: example.to_string(),
                default: row[default].clone(),
            });
        }
    }
    assert!(keys.len() > 40, "only {} keys found", keys.len());
    keys
}

/// `policies.<name>.backoff.base` → the path in a TOML document.
fn segments(key: &str) -> Vec<String> {
    key.replace("<name>", "p")
        .replace("<job type>", "jt")
        .replace("<target>", "s3")
        .replace("<category>", "cat")
        .split('.')
        .map(str::to_string)
        .collect()
}

fn value(text: &str) -> toml::Value {
    let doc: toml::Table =
        toml::from_str(&format!("v = {text}")).unwrap_or_else(|e| panic!("{text}: {e}"));
    doc["v"].clone()
}

fn insert(table: &mut toml::Table, path: &[String], v: toml::Value) {
    let (first, rest) = path.split_first().expect("a path");
    if rest.is_empty() {
        table.insert(first.clone(), v);
        return;
    }
    let next = match first.strip_suffix("[]") {
        Some(name) => {
            let array = table.entry(name.to_string()).or_insert_with(|| {
                toml::Value::Array(vec![toml::Value::Table(Default::default())])
            });
            match array {
                toml::Value::Array(a) => match a.first_mut() {
                    Some(toml::Value::Table(t)) => t,
                    _ => panic!("{name}: not an array of tables"),
                },
                _ => panic!("{name}: not an array"),
            }
        }
        None => match table
            .entry(first.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()))
        {
            toml::Value::Table(t) => t,
            _ => panic!("{first}: not a table"),
        },
    };
    insert(next, rest, v);
}

/// What a key needs beside it to be valid on its own.
fn context(key: &str) -> Vec<(&'static str, &'static str)> {
    let mut c = Vec::new();
    if key.starts_with("state.redis.") {
        c.push(("state.backend", r#""redis""#));
    }
    match key {
        "server.tls_cert" => c.push(("server.tls_key", r#""k.pem""#)),
        "server.tls_key" => c.push(("server.tls_cert", r#""c.pem""#)),
        "server.tls_client_ca" => {
            c.push(("server.tls_cert", r#""c.pem""#));
            c.push(("server.tls_key", r#""k.pem""#));
        }
        "state.redis.tls_cert" => c.push(("state.redis.tls_key", r#""k.pem""#)),
        "state.redis.tls_key" => c.push(("state.redis.tls_cert", r#""c.pem""#)),
        "state.redis.sentinels" => c.push(("state.redis.sentinel_master", r#""m""#)),
        "state.redis.sentinel_master"
        | "state.redis.username"
        | "state.redis.password"
        | "state.redis.db" => {
            c.push(("state.redis.sentinels", r#"["redis://s:26379"]"#));
            if key != "state.redis.sentinel_master" {
                c.push(("state.redis.sentinel_master", r#""m""#));
            }
        }
        _ => {}
    }
    if key.starts_with("policies.<name>.") {
        c.push(("policies.<name>", "{}"));
    }
    if key.starts_with("budgets.<target>.") {
        c.push(("budgets.<target>", "{}"));
    }
    if key.starts_with("breakers.<target>.") {
        c.push(("breakers.<target>", "{}"));
    }
    if let Some(field) = key.strip_prefix("policies.<name>.backoff.") {
        match field {
            "base" | "multiplier" | "max_doublings" => {
                c.push(("policies.<name>.backoff.kind", r#""exponential""#));
            }
            "step" => c.push(("policies.<name>.backoff.kind", r#""linear""#)),
            "exponent" | "offset" => c.push(("policies.<name>.backoff.kind", r#""polynomial""#)),
            "delays" => c.push(("policies.<name>.backoff.kind", r#""schedule""#)),
            "delay" => c.push(("policies.<name>.backoff.kind", r#""constant""#)),
            _ => {}
        }
    }
    if key == "policies.<name>.jitter.fraction" {
        c.push(("policies.<name>.jitter.kind", r#""proportional""#));
    }
    if key.starts_with("priority_bands[].") {
        c.push(("priority_bands[].policy", r#""default""#));
        c.push(("priority_bands[].min", "0"));
    }
    if key.starts_with("rules[].") {
        c.push(("rules[].category", r#""c""#));
        c.push(("rules[].class", r#""transient""#));
        if key == "rules[].types" {
            c.push(("rules[].message_regex", r#"["x"]"#));
        } else {
            c.push(("rules[].types", r#"["X"]"#));
        }
    }
    c
}

/// A configuration file of `key`'s context, and `key = value` if given.
fn file_for(key: &str, v: Option<&str>) -> String {
    let mut table = toml::Table::new();
    for (k, val) in context(key) {
        insert(&mut table, &segments(k), value(val));
    }
    if let Some(val) = v {
        insert(&mut table, &segments(key), value(val));
    }
    toml::to_string(&table).expect("serialize")
}

/// What a validated configuration holds, as text (without the hash maps'
/// random order where there can be more than one entry).
fn fingerprint(c: &Config) -> String {
    let policies: Vec<String> = c
        .policies
        .policies()
        .iter()
        .map(|p| format!("{p:?}"))
        .collect();
    let bands: Vec<String> = c
        .policies
        .bands()
        .iter()
        .map(|b| format!("{}..={} {}", b.min, b.max, b.policy.name))
        .collect();
    let mut job_types: Vec<String> = c
        .policies
        .job_types()
        .map(|(t, p)| format!("{t}={}", p.name))
        .collect();
    job_types.sort();
    let mut budgets: Vec<String> = c
        .budgets
        .by_target
        .iter()
        .map(|(t, b)| format!("{t}={b:?}"))
        .collect();
    budgets.sort();
    let mut breakers: Vec<String> = c
        .breakers
        .by_target
        .iter()
        .map(|(t, b)| format!("{t}={b:?}"))
        .collect();
    breakers.sort();
    format!(
        "{} {} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?} {policies:?} {bands:?} {job_types:?} {budgets:?} {:?} {breakers:?} {:?} {:?} {:?}",
        c.grpc_addr,
        c.metrics_addr,
        c.health_addr,
        c.tls,
        c.max_in_flight,
        c.shutdown_grace,
        c.limits,
        c.batch_limits,
        c.snapshot,
        c.backend,
        c.budgets.default,
        c.breakers.default,
        c.rules,
        c.delivery,
    )
}

#[test]
fn every_documented_configuration_key_is_accepted_with_its_example() {
    for k in documented_keys() {
        let text = file_for(&k.key, Some(&k.example));
        if let Err(e) = Config::from_toml(&text) {
            panic!(
                "docs/configuration.md: `{}` with its example `{}` is refused: {e}\n{text}",
                k.key, k.example
            );
        }
    }
}

#[test]
fn every_documented_default_is_the_codes() {
    let mut checked = 0;
    for k in documented_keys() {
        // Only defaults written as one TOML value ("none", "required", ... are prose).
        let Some(default) = code(&k.default) else {
            continue;
        };
        if toml::from_str::<toml::Table>(&format!("v = {default}")).is_err() {
            continue;
        }
        let without = Config::from_toml(&file_for(&k.key, None))
            .unwrap_or_else(|e| panic!("{}: its context is refused: {e}", k.key));
        let text = file_for(&k.key, Some(default));
        let with = Config::from_toml(&text).unwrap_or_else(|e| {
            panic!(
                "docs/configuration.md: `{}` = its default `{default}` is refused: {e}",
                k.key
            )
        });
        assert_eq!(
            fingerprint(&with),
            fingerprint(&without),
            "docs/configuration.md: `{}` = `{default}` is not what leaving it out gives",
            k.key
        );
        checked += 1;
    }
    assert!(checked > 25, "only {checked} defaults checked");
}

#[test]
fn every_key_the_configuration_accepts_is_documented() {
    let src = read("src/config/raw.rs");
    assert!(
        !src.contains("serde(rename"),
        "src/config/raw.rs renames a field: teach tests/docs.rs the TOML name"
    );
    let prefix_of = |raw: &str| -> &'static str {
        match raw {
            "RawConfig" => "",
            "RawServer" => "server",
            "RawState" => "state",
            "RawRedis" => "state.redis",
            "RawDelivery" => "delivery",
            "RawPolicy" => "policies.<name>",
            "RawBackoff" => "policies.<name>.backoff",
            "RawCategory" => "policies.<name>.categories.<category>",
            "RawJitter" => "policies.<name>.jitter",
            "RawBand" => "priority_bands[]",
            "RawRule" => "rules[]",
            "RawBudget" => "budgets.<target>",
            "RawBreaker" => "breakers.<target>",
            other => panic!(
                "src/config/raw.rs has a new struct {other}: add its TOML prefix to tests/docs.rs and document its keys in docs/configuration.md"
            ),
        }
    };
    let documented: Vec<String> = documented_keys().into_iter().map(|k| k.key).collect();
    let structs = re(r"(?s)struct (Raw\w+) \{(.*?)\n\}");
    let field = re(r"(?m)^\s+(?:pub(?:\([^)]*\))? )?(\w+): ");
    let mut seen = 0;
    for s in structs.captures_iter(&src) {
        let prefix = prefix_of(&s[1]);
        for f in field.captures_iter(&s[2]) {
            let path = if prefix.is_empty() {
                f[1].to_string()
            } else {
                format!("{prefix}.{}", &f[1])
            };
            let covered = documented.iter().any(|k| {
                k == &path
                    || k.strip_prefix(path.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            });
            assert!(
                covered,
                "src/config/raw.rs accepts `{path}` but docs/configuration.md has no row for it"
            );
            seen += 1;
        }
    }
    assert!(seen > 50, "only {seen} fields found in the Raw structs");
}

// ---- the command line -------------------------------------------------------

fn help(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_retryd"))
        .args(args)
        .arg("--help")
        .output()
        .expect("run retryd --help");
    assert!(out.status.success(), "retryd {args:?} --help failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn flags(help: &str) -> BTreeSet<String> {
    re(r"(?m)^\s+(?:-\w, )?(--[a-z][a-z-]*)")
        .captures_iter(help)
        .map(|c| c[1].to_string())
        .filter(|f| f != "--help" && f != "--version")
        .collect()
}

fn commands(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.starts_with("Commands:") {
            inside = true;
        } else if inside {
            match line.split_whitespace().next() {
                Some(cmd) if line.starts_with("  ") => {
                    if cmd != "help" {
                        out.push(cmd.to_string());
                    }
                }
                _ => break,
            }
        }
    }
    out
}

fn envs(help: &str) -> BTreeSet<String> {
    re(r"\[env: (RETRYD_[A-Z_]+)")
        .captures_iter(help)
        .map(|c| c[1].to_string())
        .collect()
}

fn mentions_flag(doc: &str, flag: &str) -> bool {
    re(&format!(r"(^|[^\w-]){}($|[^\w-])", regex::escape(flag))).is_match(doc)
}

/// The code spans of one column of the table whose first header is `first`.
fn column(doc: &str, first: &str, col: usize) -> BTreeSet<String> {
    let t = tables(doc)
        .into_iter()
        .find(|t| t.header.first().map(String::as_str) == Some(first))
        .unwrap_or_else(|| panic!("no table with a `{first}` column"));
    t.rows.iter().flat_map(|r| spans(&r[col])).collect()
}

/// The first word of each span: `--addr ADDR` → `--addr`.
fn first_words(spans: &BTreeSet<String>) -> BTreeSet<String> {
    spans
        .iter()
        .filter_map(|s| s.split_whitespace().next().map(str::to_string))
        .collect()
}

#[test]
fn every_flag_variable_and_command_is_documented() {
    let configuration = read("docs/configuration.md");
    let operations = read("docs/operations.md");

    // The server's flags and variables: in the flags table of configuration.md.
    let top = help(&[]);
    // The top-level help lists the client commands' options too, under
    // their own heading; those are checked with the client commands.
    let (serve_part, client_part) = top
        .split_once("Client options")
        .expect("a `Client options` heading in retryd --help");
    let serve_flags = flags(serve_part);
    assert!(serve_flags.len() > 15, "{serve_flags:?}");
    let table_flags = first_words(&column(&configuration, "flag", 0));
    let table_vars = column(&configuration, "flag", 1);
    for f in &serve_flags {
        assert!(
            table_flags.contains(f),
            "`retryd {f}` is not in the flags table of docs/configuration.md"
        );
    }
    let serve_vars = envs(serve_part);
    assert!(serve_vars.len() > 15, "{serve_vars:?}");
    for v in &serve_vars {
        assert!(
            table_vars.contains(v),
            "{v} is not in the flags table of docs/configuration.md"
        );
    }

    // The commands: in the command table of operations.md; the options
    // every client command takes: in its options table; a command's own
    // options: anywhere in operations.md.
    let command_cells = column(&operations, "command", 0);
    let option_flags = first_words(&column(&operations, "option", 0));
    let option_vars = column(&operations, "option", 1);
    let global_flags = flags(&help(&["stats"]));
    assert!(global_flags.len() > 5, "{global_flags:?}");
    assert_eq!(
        flags(client_part),
        global_flags,
        "the client options of retryd --help"
    );
    let top_commands = commands(&top);
    assert!(top_commands.len() >= 7, "{top_commands:?}");
    let mut leaves_seen = 0;
    for cmd in &top_commands {
        let subs = commands(&help(&[cmd.as_str()]));
        let leaves: Vec<Vec<&str>> = if subs.is_empty() {
            vec![vec![cmd.as_str()]]
        } else {
            subs.iter()
                .map(|s| vec![cmd.as_str(), s.as_str()])
                .collect()
        };
        for leaf in leaves {
            leaves_seen += 1;
            let line = format!("retryd {}", leaf.join(" "));
            assert!(
                command_cells
                    .iter()
                    .any(|c| c == &line || c.starts_with(&format!("{line} "))),
                "`{line}` is not in the command table of docs/operations.md"
            );
            if leaf == ["serve"] || leaf == ["check-config"] {
                continue;
            }
            let h = help(&leaf);
            for f in flags(&h) {
                let documented = if global_flags.contains(&f) {
                    option_flags.contains(&f)
                } else {
                    mentions_flag(&operations, &f)
                };
                assert!(documented, "`{line} {f}` is not in docs/operations.md");
            }
            for v in envs(&h) {
                assert!(
                    option_vars.contains(&v),
                    "{v} (`{line}`) is not in the options table of docs/operations.md"
                );
            }
        }
    }
    assert!(leaves_seen >= 11, "only {leaves_seen} commands found");
}

// ---- metrics ----------------------------------------------------------------

#[test]
fn every_metric_is_documented_and_every_documented_metric_exists() {
    let src = read("src/metrics/names.rs");
    let names: BTreeSet<String> = re(r#"pub const [A-Z_]+: &str = "(retryd_[a-z_]+)";"#)
        .captures_iter(&src)
        .map(|c| c[1].to_string())
        .collect();
    assert!(
        names.contains(retryd::metrics::FAILURES) && names.len() > 15,
        "the metric constants of src/metrics/names.rs were not found: {names:?}"
    );
    let doc = read("docs/metrics.md");
    for n in &names {
        assert!(
            doc.contains(&format!("`{n}`")),
            "{n} is not in docs/metrics.md"
        );
    }
    for c in re(r"(^|[^\w:])(retryd_[a-z_]+)").captures_iter(&doc) {
        let name = &c[2];
        let base = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| names.contains(*b))
            .unwrap_or(name);
        assert!(
            names.contains(base),
            "docs/metrics.md names {name}, which src/metrics/names.rs does not name"
        );
    }
}

// ---- the API ----------------------------------------------------------------

#[test]
fn every_rpc_message_field_and_enum_value_is_in_the_api_reference() {
    let proto = read("proto/retryd/v1/retryd.proto");
    let doc = read("docs/api.md");
    let rpcs: Vec<String> = re(r"(?m)^\s*rpc (\w+)\(")
        .captures_iter(&proto)
        .map(|c| c[1].to_string())
        .collect();
    assert!(rpcs.len() >= 13, "{rpcs:?}");
    for rpc in &rpcs {
        assert!(
            doc.contains(&format!("\n### {rpc}\n")),
            "docs/api.md has no section `### {rpc}`"
        );
    }
    let messages = re(r"(?s)\nmessage (\w+) \{(\}|.*?\n\})");
    let field = re(r"(?m)^\s*(?:optional |repeated )?[\w.]+ (\w+) = \d+;");
    let mut fields = 0;
    for m in messages.captures_iter(&proto) {
        let name = &m[1];
        assert!(
            doc.contains(&format!("`{name}`")),
            "message {name} is not in docs/api.md"
        );
        for f in field.captures_iter(&m[2]) {
            assert!(
                doc.contains(&format!("`{}`", &f[1])),
                "field {name}.{} is not in docs/api.md",
                &f[1]
            );
            fields += 1;
        }
    }
    assert!(fields > 60, "only {fields} fields found");
    let values: Vec<String> = re(r"(?m)^\s*([A-Z][A-Z_]+) = \d+;")
        .captures_iter(&proto)
        .map(|c| c[1].to_string())
        .collect();
    assert!(values.len() > 20, "{values:?}");
    for v in values {
        assert!(
            doc.contains(&format!("`{v}`")),
            "enum value {v} is not in docs/api.md"
        );
    }
}

#[test]
fn every_validated_field_is_in_the_validation_table() {
    let src = read("src/server/validate.rs") + &read("src/server/service.rs");
    let mut fields = BTreeSet::new();
    for pattern in [
        r#"text\(\s*&mut v,\s*"([^"]+)""#,
        r#"v\.add\(\s*"([^"]+)""#,
        r#"invalid\(\s*"([^"]+)""#,
        r#"job_id\(\s*"([^"]+)""#,
    ] {
        fields.extend(re(pattern).captures_iter(&src).map(|c| c[1].to_string()));
    }
    for c in re(r#"format!\("(\w+)\[\{i\}\]"\)"#).captures_iter(&src) {
        fields.insert(format!("{}[i]", &c[1]));
    }
    assert!(fields.len() >= 15, "{fields:?}");
    let doc = read("docs/api.md");
    let table = tables(&doc)
        .into_iter()
        .find(|t| t.header == ["field", "RPCs", "rule"])
        .expect("the validation table of docs/api.md");
    let documented: BTreeSet<String> = table
        .rows
        .iter()
        .filter_map(|r| code(&r[0]).map(str::to_string))
        .collect();
    for f in &fields {
        assert!(
            documented.contains(f),
            "src/server/ validates `{f}`, which the validation table of docs/api.md lacks"
        );
    }
}

// ---- decisions --------------------------------------------------------------

#[test]
fn the_built_in_rules_table_is_the_codes() {
    use retryd::engine::classify::{builtin_rules, grpc_code_name};
    let doc = read("docs/decisions.md");
    let table = tables(&doc)
        .into_iter()
        .find(|t| t.header == ["#", "matcher", "values", "class", "category"])
        .expect("the built-in rules table of docs/decisions.md");
    let rules = builtin_rules();
    assert!(
        read("README.md").contains(&format!("{} built-in rules", rules.len())),
        "README.md does not say there are {} built-in rules",
        rules.len()
    );
    assert_eq!(
        table.rows.len(),
        rules.len(),
        "docs/decisions.md lists {} built-in rules, builtin_rules() has {}",
        table.rows.len(),
        rules.len()
    );
    for (i, (row, rule)) in table.rows.iter().zip(&rules).enumerate() {
        let at = format!("docs/decisions.md, built-in rule {i}");
        assert_eq!(row[0], i.to_string(), "{at}: numbered {}", row[0]);
        let matcher = if !rule.types.is_empty() {
            "type"
        } else if !rule.message_regex.is_empty() {
            "message"
        } else if !rule.grpc_codes.is_empty() {
            "gRPC code"
        } else {
            "HTTP status"
        };
        assert_eq!(row[1], matcher, "{at}: matcher");
        let mut want: BTreeSet<String> = BTreeSet::new();
        want.extend(rule.types.iter().cloned());
        want.extend(rule.type_contains.iter().cloned());
        want.extend(rule.message_regex.iter().cloned());
        want.extend(
            rule.grpc_codes
                .iter()
                .map(|c| grpc_code_name(*c).to_string()),
        );
        for (lo, hi) in &rule.http_status {
            want.insert(lo.to_string());
            want.insert(hi.to_string());
        }
        assert_eq!(spans(&row[2]), want, "{at}: values");
        assert_eq!(row[3], rule.class.as_str(), "{at}: class");
        assert_eq!(row[4], format!("`{}`", rule.category), "{at}: category");
    }
}

#[test]
fn the_built_in_policies_table_is_the_codes() {
    let doc = read("docs/decisions.md");
    let table = tables(&doc)
        .into_iter()
        .find(|t| t.header.first().map(String::as_str) == Some("policy") && t.header.len() == 6)
        .expect("the built-in policies table of docs/decisions.md");
    let builtins = Policy::builtins();
    assert_eq!(table.rows.len(), builtins.len());
    for p in builtins {
        let row = table
            .rows
            .iter()
            .find(|r| code(&r[0]) == Some(&*p.name))
            .unwrap_or_else(|| panic!("docs/decisions.md lacks the built-in policy {}", p.name));
        let want = [
            format!("`{}`", p.name),
            (p.max_retries + 1).to_string(),
            p.max_retries.to_string(),
            format!("`{}`", p.backoff.describe()),
            p.jitter.describe(),
            Human(p.max_delay).to_string(),
        ];
        assert_eq!(
            row[..],
            want[..],
            "docs/decisions.md: built-in policy {}",
            p.name
        );
    }
}

// ---- links ------------------------------------------------------------------

/// GitHub's anchor of a heading.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(md: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in prose(md).lines() {
        if let Some(h) = line.strip_prefix('#') {
            let text = h.trim_start_matches('#');
            if text.starts_with(' ') {
                let s = slug(text);
                let mut name = s.clone();
                let mut n = 0;
                while out.contains(&name) {
                    n += 1;
                    name = format!("{s}-{n}");
                }
                out.insert(name);
            }
        }
    }
    out
}

fn documents() -> Vec<PathBuf> {
    let mut files = vec![root().join("README.md"), root().join("BENCHMARKS.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 7, "{docs:?}");
    files.extend(docs);
    files
}

fn shown(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let link = re(r"\]\(([^)\s]+)\)");
    let mut checked = 0;
    for file in documents() {
        let text = std::fs::read_to_string(&file).expect("read");
        let dir = file.parent().expect("a directory");
        for c in link.captures_iter(&prose(&text)) {
            let target = &c[1];
            if target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
            {
                continue;
            }
            let (path, anchor) = match target.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (target, None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            assert!(
                resolved.exists(),
                "{}: the link ({target}) points to {}, which does not exist",
                shown(&file),
                shown(&resolved)
            );
            if let Some(a) = anchor {
                let body = std::fs::read_to_string(&resolved).unwrap_or_default();
                assert!(
                    anchors(&body).contains(a),
                    "{}: the link ({target}) names #{a}, which {} has no heading for",
                    shown(&file),
                    shown(&resolved)
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} links found");
}

#[test]
fn the_readme_is_the_short_path_in() {
    let readme = read("README.md");
    for line in [
        "cargo run --release    # serves built-in policies",
        "./scripts/test         # the whole test suite",
    ] {
        assert!(
            readme.contains(line),
            "README.md lost its set-up line {line:?}"
        );
    }
    for doc in documents().iter().skip(2) {
        let name = shown(doc);
        assert!(
            readme.contains(&format!("({name}")),
            "README.md does not link to {name}"
        );
    }
}

#[test]
fn no_document_refers_to_one_outside_the_repository() {
    // Spelled in pieces, so that this file does not match itself.
    let outside = [
        ["DESIGN", ".md"].concat(),
        ["seed", " 0"].concat(),
        ["the ", "seeds"].concat(),
        ["shared", "/"].concat(),
    ];
    let mut files = documents();
    files.push(root().join("examples/retryd.toml"));
    files.push(root().join("examples/python/README.md"));
    files.push(root().join("examples/node/README.md"));
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        for o in &outside {
            assert!(
                !text.contains(o.as_str()),
                "{} refers to {o:?}, which is not in the repository",
                shown(&file)
            );
        }
    }
}

/// Every file and directory of the repository the documents name in code
/// spans (`src/…`, `tests/…`, `clients/…`, …) exists: a renamed module shows
/// up here instead of in a reader's failed search.
#[test]
fn every_repository_path_the_documents_name_exists() {
    let span =
        re(r"`((?:src|tests|clients|deploy|bench|fuzz|docs|scripts|proto|examples)/[\w./-]*)`");
    let mut files = documents();
    for client in ["python", "node", "go", "java", "ruby", "conformance"] {
        files.push(root().join("clients").join(client).join("README.md"));
    }
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        for c in span.captures_iter(&text) {
            let path = c[1].trim_end_matches(['.', ',']);
            // A glob or a placeholder names no one file.
            if path.contains('*') || path.contains("...") || path.contains('…') {
                continue;
            }
            // Relative to the repository, or (in a client's README) to the client.
            let here = file.parent().expect("a directory").join(path);
            assert!(
                root().join(path).exists() || here.exists(),
                "{}: `{path}` does not exist",
                shown(&file)
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "only {checked} paths found");
}

/// Each client's README lists every give-up reason the API has.
#[test]
fn every_client_readme_lists_every_give_up_reason() {
    let proto = read("proto/retryd/v1/retryd.proto");
    let reasons: Vec<String> = re(r"(?m)^\s*GIVE_UP_REASON_([A-Z_]+) = [1-9]\d*;")
        .captures_iter(&proto)
        .map(|c| c[1].to_lowercase())
        .collect();
    assert!(reasons.len() >= 7, "{reasons:?}");
    for client in ["python", "node", "go", "java", "ruby"] {
        let rel = format!("clients/{client}/README.md");
        let text = read(&rel);
        for r in &reasons {
            assert!(
                text.contains(&format!("\"{r}\"")) || text.contains(&format!("'{r}'")),
                "{rel} does not list the give-up reason {r:?}"
            );
        }
    }
}
