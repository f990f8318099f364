//! What the loader does with content a checksum cannot vouch for: files
//! are changed here and resealed (lengths and checksum made to agree), so
//! the loader reaches the records and the metadata.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use rand::SeedableRng;
use rand::rngs::StdRng;

use super::*;
use crate::config::Config;
use crate::engine::{ErrorReport, FailureReport};
use crate::state::memory::batches::BatchLimits;
use crate::state::{FailureCall, Limits, store_for};

const NOW: Timestamp = Timestamp(1_800_000_000_000);

fn engine(rules: &str) -> Engine {
    let config = Config::from_toml(rules).expect("config");
    Engine::new(config.classifier(), config.policies)
}

/// A snapshot of one job `j`, whose error (`type_name`) is classified by
/// `engine`'s rules; the file's bytes and its records section's length.
fn snapshot_of_one_job(engine: &Engine, type_name: &str, name: &str) -> (Vec<u8>, u64) {
    let store = store_for(Limits::default(), engine);
    let policy = Arc::clone(engine.policies.default_policy());
    let report = FailureReport {
        error: ErrorReport {
            type_name,
            ..ErrorReport::default()
        },
        ..FailureReport::default()
    };
    let call = FailureCall {
        job_id: "j",
        job_type: "",
        target: "",
        policy: &policy,
        report,
        pause: None,
        carry: Default::default(),
    };
    store
        .report_failure(engine, &call, NOW, &mut StdRng::seed_from_u64(1))
        .expect("recorded");
    let dir: PathBuf =
        std::env::temp_dir().join(format!("retryd-snapshot-{}-{name}", std::process::id()));
    fs::create_dir_all(&dir).expect("temporary directory");
    let path = dir.join("state.snap");
    let batches = Batches::new(BatchLimits::default());
    write(&path, engine, &store, &batches, NOW).expect("writes");
    let bytes = fs::read(&path).expect("reads");
    fs::remove_dir_all(&dir).expect("removes its directory");
    let records = u64_at(&bytes, 24);
    (bytes, records)
}

fn load_bytes(bytes: Vec<u8>, engine: &Engine) -> (Result<Stats, SnapshotError>, Store) {
    let store = store_for(Limits::default(), engine);
    let batches = Batches::new(BatchLimits::default());
    let r = load_from(Cursor::new(bytes), "test", engine, &store, &batches);
    (r, store)
}

/// The file with its metadata changed by `change`, resealed.
fn with_meta(bytes: &[u8], records: u64, change: impl FnOnce(&mut Meta)) -> Vec<u8> {
    let meta_at = HEADER_LEN + usize::try_from(records).expect("fits");
    let mut meta: Meta = postcard::from_bytes(&bytes[meta_at..]).expect("metadata");
    change(&mut meta);
    let mut file = bytes[..meta_at].to_vec();
    file.extend_from_slice(&postcard::to_stdvec(&meta).expect("encodes"));
    reseal(&mut file, records);
    file
}

#[test]
fn an_error_type_too_long_for_a_record_is_refused_not_a_panic() {
    let e = engine("");
    let (bytes, records) = snapshot_of_one_job(&e, "ConnectionError", "long-type");
    // The record holds its error type as dictionary entry 0; a dictionary
    // that names one of 40 KiB cannot be written inline in a record (15 bits).
    let file = with_meta(&bytes, records, |m| {
        assert_eq!(m.dictionary.type_names, ["ConnectionError"]);
        m.dictionary.type_names[0] = "E".repeat(40 * 1024);
    });
    let (r, store) = load_bytes(file, &e);
    let err = r.expect_err("refused").to_string();
    assert!(err.contains("job record 0 is malformed"), "{err}");
    assert_eq!(store.len(), 0);
    // The same file untouched loads.
    let (r, store) = load_bytes(bytes, &e);
    assert_eq!(r.expect("loads").jobs, 1);
    assert_eq!(
        store.get("j").expect("j").last_error.type_name,
        "ConnectionError"
    );
}

const RULES: &str = "[[rules]]\ncategory = \"db\"\nclass = \"transient\"\ntypes = [\"DbDown\"]\n";

#[test]
fn rule_references_are_kept_by_stable_name() {
    let before = engine(RULES);
    let (bytes, records) = snapshot_of_one_job(&before, "DbDown", "rules");
    let meta_at = HEADER_LEN + usize::try_from(records).expect("fits");
    let meta: Meta = postcard::from_bytes(&bytes[meta_at..]).expect("metadata");
    // Names, not a Debug rendering of the rule.
    assert_eq!(meta.rules[0], "rules[0]:db");
    assert!(meta.rules[1].starts_with("builtin:0:"), "{:?}", meta.rules);

    let rule_of = |e: &Engine, bytes: Vec<u8>| {
        let (r, store) = load_bytes(bytes, e);
        r.expect("loads");
        let job = store.get("j").expect("j").job;
        job.last_decision
            .rule
            .map(|i| e.classifier.rule_key(usize::from(i)))
    };
    // The same configuration: the same rule.
    assert_eq!(rule_of(&before, bytes.clone()), Some("rules[0]:db".into()));
    // A rule added in front: `rules[0]` is now another rule, so the job's
    // reference is dropped rather than pointed at it.
    let after = engine(&format!(
        "[[rules]]\ncategory = \"cache\"\nclass = \"transient\"\ntypes = [\"CacheDown\"]\n{RULES}"
    ));
    assert_eq!(rule_of(&after, bytes.clone()), None);
    // A key that names nothing is no reference either (a file from a
    // build that wrote rules another way).
    let file = with_meta(&bytes, records, |m| {
        m.rules[0] = "Rule { category: \"db\" }".into();
    });
    assert_eq!(rule_of(&before, file), None);
}

#[test]
fn the_fuzz_target_reaches_the_records_behind_a_valid_checksum() {
    // `reseal` is how the fuzz target gets past the checksum: a resealed
    // file with a damaged record is refused for the record, not the sum.
    let e = engine("");
    let (mut bytes, records) = snapshot_of_one_job(&e, "ConnectionError", "fuzz");
    let at = HEADER_LEN + 4 + 48; // the record's id length
    bytes[at] = bytes[at].wrapping_add(1);
    let (r, _) = load_bytes(bytes.clone(), &e);
    assert!(
        r.expect_err("refused")
            .to_string()
            .contains("checksum mismatch")
    );
    reseal(&mut bytes, records);
    let (r, _) = load_bytes(bytes, &e);
    let err = r.expect_err("refused").to_string();
    assert!(err.contains("job record 0 is malformed"), "{err}");
}
