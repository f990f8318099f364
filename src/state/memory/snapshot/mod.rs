//! Durable state: the whole of a sidecar's state in one file, written
//! atomically and read back at start, so a restart does not hand a poison
//! job a fresh set of retries.
//!
//! Layout (integers little-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `RETRYDSN` |
//! | 4 | format version (2; 1 still loads) |
//! | 4 | flags (0; reserved) |
//! | 8 | number of jobs |
//! | 8 | length of the records section |
//! | 8 | length of the metadata section |
//! | 4 | CRC-32 of both sections |
//! | … | records: per job a u32 length and the store's own record bytes |
//! | … | metadata: postcard of [`Meta`] (names behind the records' ids, batches, budgets, counters) |
//!
//! Records are copied one shard at a time under that shard's read lock
//! only, and written to disk after it is released: reports keep flowing
//! while a million jobs are written. Each job is consistent; the file as a
//! whole is not one instant (a job reported to during the write may be in
//! its before or its after state), which is what a sidecar restarted at an
//! arbitrary moment would see anyway.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::batches::Batches;
use super::little_endian::{u32_at, u64_at};
use super::{Dictionary, Remap, SHARDS, Store};
use crate::engine::batch::Batch;
use crate::engine::{Engine, Timestamp};

pub const MAGIC: &[u8; 8] = b"RETRYDSN";
/// The version written. 2: records may carry a delivery parcel (payload,
/// queue, lease). Every version down to `OLDEST` still loads.
pub const VERSION: u32 = 2;
pub const OLDEST: u32 = 1;
pub const HEADER_LEN: usize = 44;

/// No record is longer than this: the store bounds every text (to well
/// under 1 MiB in all) and a payload to `[delivery] max_payload_bytes`.
const MAX_RECORD: u32 = (1 << 20) + crate::config::MAX_PAYLOAD_LIMIT as u32;

#[derive(Debug, Error)]
pub enum SnapshotError {
    #[error(
        "snapshot {path}: {problem}; refusing to start rather than lose it (move it away to start empty)"
    )]
    Invalid { path: String, problem: String },
    #[error("snapshot {path}: {source}")]
    Io { path: String, source: io::Error },
}

/// What a write or a load did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    pub jobs: u64,
    pub bytes: u64,
    pub took: Duration,
    /// Longest time one shard's read lock was held (the most a report waited).
    pub longest_lock: Duration,
}

/// Everything but the records.
#[derive(Serialize, Deserialize)]
struct Meta {
    taken_at: Timestamp,
    dictionary: Dictionary,
    /// Policy names by the id records hold.
    policies: Vec<String>,
    /// Category names by id.
    categories: Vec<String>,
    /// Each classification rule's stable name, by index: a record keeps
    /// its rule only if a rule of that name is still configured.
    rules: Vec<String>,
    type_counters: Vec<(String, [u64; 3])>,
    budgets: Vec<(String, i64, u64)>,
    batches: Vec<(String, Batch)>,
}

/// Each rule's stable name (`rules[2]:db`, `builtin:7:network`), by index.
fn rule_keys(engine: &Engine) -> Vec<String> {
    (0..engine.classifier.rules().len())
        .map(|i| engine.classifier.rule_key(i))
        .collect()
}

/// The temporary file a write goes to first, beside the snapshot (a rename
/// is only atomic within one file system).
fn temporary(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "snapshot".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp"))
}

/// Writes the state to `path` atomically: a temporary file in the same
/// directory, fsync, rename over `path`, fsync of the directory.
pub fn write(
    path: &Path,
    engine: &Engine,
    store: &Store,
    batches: &Batches,
    now: Timestamp,
) -> Result<Stats, SnapshotError> {
    let io_err = |source| SnapshotError::Io {
        path: path.display().to_string(),
        source,
    };
    let started = Instant::now();
    let tmp = temporary(path);
    let result = write_to(&tmp, engine, store, batches, now).and_then(|s| {
        // A reload while the shards were copied: the ids are of two
        // configurations. The next interval writes a whole one.
        if store.current(engine) {
            Ok(s)
        } else {
            Err(io::Error::other(
                "the configuration was reloaded while it was written; the next write replaces it",
            ))
        }
    });
    let mut stats = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(io_err(e));
        }
    };
    fs::rename(&tmp, path).map_err(io_err)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
    stats.took = started.elapsed();
    Ok(stats)
}

fn write_to(
    tmp: &Path,
    engine: &Engine,
    store: &Store,
    batches: &Batches,
    now: Timestamp,
) -> io::Result<Stats> {
    // Owner-only: the file holds callers' job ids and error messages. (A
    // temporary left by a crash is replaced, not reused with its mode.)
    let _ = fs::remove_file(tmp);
    let mut file = {
        use std::os::unix::fs::OpenOptionsExt;
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(tmp)?
    };
    let mut out = BufWriter::with_capacity(1 << 20, &mut file);
    out.write_all(&[0; HEADER_LEN])?;
    let mut crc = crc32fast::Hasher::new();
    // Room for the largest shard, touched before any lock is taken: a
    // buffer that grows (or faults its pages in) under a shard's lock
    // makes the reports waiting on that shard wait longer.
    let per_shard = store.len() / SHARDS + 64;
    let mut buf = vec![0u8; per_shard * 320];
    buf.clear();
    let mut stats = Stats::default();
    let mut records_len = 0u64;
    for shard in 0..SHARDS {
        buf.clear();
        let locked = Instant::now();
        stats.jobs += store.copy_shard(shard, &mut buf);
        stats.longest_lock = stats.longest_lock.max(locked.elapsed());
        crc.update(&buf);
        out.write_all(&buf)?;
        records_len += buf.len() as u64;
    }
    // After the records: every id they hold has its name by now.
    let names = IdNames::of(engine);
    let meta = Meta {
        taken_at: now,
        dictionary: store.dictionary(),
        policies: names.policies,
        categories: names.categories,
        rules: names.rules,
        type_counters: store.type_counters(),
        budgets: store.budget_states(),
        batches: batches.export(),
    };
    let meta = postcard::to_stdvec(&meta).map_err(io::Error::other)?;
    crc.update(&meta);
    out.write_all(&meta)?;
    out.flush()?;
    drop(out);
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&stats.jobs.to_le_bytes());
    header.extend_from_slice(&records_len.to_le_bytes());
    header.extend_from_slice(&(meta.len() as u64).to_le_bytes());
    header.extend_from_slice(&crc.finalize().to_le_bytes());
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&header)?;
    file.sync_all()?;
    stats.bytes = HEADER_LEN as u64 + records_len + meta.len() as u64;
    Ok(stats)
}

/// Makes a file's header agree with its content: the sections' lengths
/// (records first, `records_len` of them at most) and the checksum. For
/// the fuzz target and tests, which change a file and want the loader to
/// read past the checksum.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn reseal(file: &mut [u8], records_len: u64) {
    if file.len() < HEADER_LEN {
        return;
    }
    let body = (file.len() - HEADER_LEN) as u64;
    let records = records_len.min(body);
    file[24..32].copy_from_slice(&records.to_le_bytes());
    file[32..40].copy_from_slice(&(body - records).to_le_bytes());
    let crc = crc32fast::hash(&file[HEADER_LEN..]);
    file[40..44].copy_from_slice(&crc.to_le_bytes());
}

struct Header {
    jobs: u64,
    records_len: u64,
    meta_len: u64,
    crc: u32,
}

fn header(b: &[u8; HEADER_LEN], file_len: u64) -> Result<Header, String> {
    if &b[..8] != MAGIC {
        return Err("not a retryd snapshot (wrong magic number)".into());
    }
    let version = u32_at(b, 8);
    if !(OLDEST..=VERSION).contains(&version) {
        return Err(format!(
            "format version {version} is not one this retryd reads (it reads {OLDEST} to {VERSION})"
        ));
    }
    let h = Header {
        jobs: u64_at(b, 16),
        records_len: u64_at(b, 24),
        meta_len: u64_at(b, 32),
        crc: u32_at(b, 40),
    };
    let want = (HEADER_LEN as u64)
        .checked_add(h.records_len)
        .and_then(|n| n.checked_add(h.meta_len));
    match want {
        Some(n) if n == file_len => Ok(h),
        Some(n) if n > file_len => Err(format!(
            "truncated: {file_len} bytes where the header announces {n}"
        )),
        Some(n) => Err(format!(
            "{} unexpected bytes after the end the header announces ({n} bytes)",
            file_len - n
        )),
        None => Err("the header's section lengths are impossible".into()),
    }
}

/// Loads `path` into an empty store and batch book. `Ok(None)` if there is
/// no snapshot yet; an error, naming the file and the problem, if there is
/// one that cannot be read in full.
pub fn load(
    path: &Path,
    engine: &Engine,
    store: &Store,
    batches: &Batches,
) -> Result<Option<Stats>, SnapshotError> {
    let shown = path.display().to_string();
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(SnapshotError::Io {
                path: shown,
                source,
            });
        }
    };
    load_from(file, &shown, engine, store, batches).map(Some)
}

/// `load` from any seekable source (`shown` names it in errors).
pub fn load_from<F: Read + Seek>(
    mut file: F,
    shown: &str,
    engine: &Engine,
    store: &Store,
    batches: &Batches,
) -> Result<Stats, SnapshotError> {
    let invalid = |problem: String| SnapshotError::Invalid {
        path: shown.to_string(),
        problem,
    };
    let io_err = |source| SnapshotError::Io {
        path: shown.to_string(),
        source,
    };
    let started = Instant::now();
    let file_len = file.seek(SeekFrom::End(0)).map_err(io_err)?;
    file.seek(SeekFrom::Start(0)).map_err(io_err)?;
    let mut head = [0u8; HEADER_LEN];
    if file_len < HEADER_LEN as u64 {
        return Err(invalid(format!(
            "truncated: {file_len} bytes, shorter than the {HEADER_LEN}-byte header"
        )));
    }
    file.read_exact(&mut head).map_err(io_err)?;
    let h = header(&head, file_len).map_err(invalid)?;

    // First pass: the checksum, before anything is believed.
    let mut reader = BufReader::with_capacity(1 << 20, &mut file);
    let mut crc = crc32fast::Hasher::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let n = reader.read(&mut chunk).map_err(io_err)?;
        if n == 0 {
            break;
        }
        crc.update(&chunk[..n]);
    }
    let computed = crc.finalize();
    if computed != h.crc {
        return Err(invalid(format!(
            "checksum mismatch (header {:08x}, content {computed:08x}): the file is corrupt",
            h.crc
        )));
    }
    drop(reader);

    let meta_at = HEADER_LEN as u64 + h.records_len;
    file.seek(SeekFrom::Start(meta_at)).map_err(io_err)?;
    let mut meta =
        vec![0u8; usize::try_from(h.meta_len).map_err(|_| invalid("metadata too large".into()))?];
    file.read_exact(&mut meta).map_err(io_err)?;
    let meta: Meta =
        postcard::from_bytes(&meta).map_err(|e| invalid(format!("metadata unreadable: {e}")))?;
    let remap = remap(engine, &meta);

    file.seek(SeekFrom::Start(HEADER_LEN as u64))
        .map_err(io_err)?;
    let mut reader = BufReader::with_capacity(1 << 20, file).take(h.records_len);
    let mut count = 0u64;
    let mut len = [0u8; 4];
    loop {
        match reader.read_exact(&mut len) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io_err(e)),
        }
        let n = u32::from_le_bytes(len);
        if n > MAX_RECORD {
            return Err(invalid(format!("job record {count} is {n} bytes long")));
        }
        let mut bytes = vec![0u8; n as usize].into_boxed_slice();
        reader
            .read_exact(&mut bytes)
            .map_err(|_| invalid(format!("job record {count} runs past its section")))?;
        if !store.restore(bytes, &remap) {
            return Err(invalid(format!(
                "job record {count} is malformed or repeats a job id"
            )));
        }
        count += 1;
    }
    if count != h.jobs {
        return Err(invalid(format!(
            "{count} job records where the header announces {}",
            h.jobs
        )));
    }
    store.rebuild_deaths();
    store.restore_type_counters(&meta.type_counters);
    store.restore_budgets(&meta.budgets);
    batches
        .import(meta.batches)
        .map_err(|id| invalid(format!("batch {id:?} is inconsistent")))?;
    Ok(Stats {
        jobs: count,
        bytes: file_len,
        took: started.elapsed(),
        longest_lock: Duration::ZERO,
    })
}

/// The names behind an engine's policy, category and rule ids, by id.
pub struct IdNames {
    pub policies: Vec<String>,
    pub categories: Vec<String>,
    pub rules: Vec<String>,
}

impl IdNames {
    pub fn of(engine: &Engine) -> IdNames {
        IdNames {
            policies: engine
                .policies
                .policies()
                .iter()
                .map(|p| p.name.to_string())
                .collect(),
            categories: engine
                .classifier
                .categories()
                .iter()
                .map(|c| c.to_string())
                .collect(),
            rules: rule_keys(engine),
        }
    }
}

/// How the ids of the process that wrote `meta` map to this one's.
fn remap(engine: &Engine, meta: &Meta) -> Remap {
    remap_names(
        engine,
        &IdNames {
            policies: meta.policies.clone(),
            categories: meta.categories.clone(),
            rules: meta.rules.clone(),
        },
        meta.dictionary.clone(),
    )
}

/// How ids named by `names` map to `engine`'s: by name, so a configuration
/// changed in between still reads right (a policy or category that is gone
/// becomes the default / `unknown`, a rule that is gone none).
pub fn remap_names(engine: &Engine, names: &IdNames, dictionary: super::Dictionary) -> Remap {
    let policies = names
        .policies
        .iter()
        .map(|name| {
            engine
                .policies
                .get(name)
                .map_or_else(|| engine.policies.default_policy().id, |p| p.id)
        })
        .collect();
    let categories = engine.classifier.categories();
    let category = |name: &str| {
        categories
            .iter()
            .position(|c| &**c == name)
            .and_then(|i| u16::try_from(i).ok())
            .map(crate::engine::CategoryId)
    };
    let unknown = category("unknown").unwrap_or_default();
    Remap {
        dictionary,
        policies,
        default_policy: engine.policies.default_policy().id,
        categories: names
            .categories
            .iter()
            .map(|c| category(c).unwrap_or(unknown))
            .collect(),
        unknown_category: unknown,
        rules: names
            .rules
            .iter()
            .map(|key| engine.classifier.rule_by_key(key))
            .collect(),
    }
}

#[cfg(test)]
mod tests;
