//! One job's state packed into one heap allocation.
//!
//! A million tracked jobs must fit in about 200 MB, so a job is not a struct
//! of strings and `Arc`s but 54 bytes of fixed fields followed by its id,
//! its error type (unless interned), its job type (unless it is its label)
//! and the kept prefix of its error message. The hash table holds only the
//! boxed bytes; the engine works on the decoded fixed part (`Head`).
//!
//! Layout (little-endian):
//!
//! ```text
//!  0  u64 updated_at (ms since the epoch)
//!  8  i32 last_failure_at: ms after updated_at (saturating, ±24 days)
//! 12  u32 first_failure_at: seconds before last_failure_at
//! 16  u32 failure_count
//! 20  u32 last_attempt
//! 24  u32 decision delay (ms)
//! 28  u32 decision payload: retry-after hint (ms) or deadline landing (s)
//! 32  u16 policy id        34 u16 category id    36 u16 job-type label id
//! 38  u16 http status      40 u16 rule index (0xFFFF: none)
//! 42  u8  state:2 action:1 rebase:1 retryable:2 why_a:1 why_b:1
//! 43  u8  reason:3 class:2 match kind:3
//! 44  u8  grpc code
//! 45  u8  why kind:4 why_c:1 job type inline:1 parcel:1
//! 46  u16 budgeted target id (0xFFFF: none)
//! 48  u16 id length
//! 50  u16 error type: interned id | 0x8000, or inline length
//! 52  u16 message length
//! 54  id, [error type], [u8 length + job type], message, [parcel]
//! ```
//!
//! A job that retryd holds for delivery (`[delivery]`: a report gave it a
//! payload) carries a parcel after its texts, flagged in byte 45:
//!
//! ```text
//!  0  u32 payload length     4 u8 queue length    5 u8 index (0 none, 1 due, 2 lease)
//!  6  u16 unsettled hand-outs (the delivery limit counts these)
//!  8  u32 deliveries (every hand-out)      12 u32 reserved
//! 16  u64 current lease (0: none)
//! 24  u64 lease_until (ms)  32 u64 due_at (ms)  40 u64 the index key's sequence number
//! 48  queue, payload
//! ```
//!
//! The payload lives in the record itself: one allocation, no second copy
//! of the id, and nothing at all for a job without one.
//!
//! This layout is also what a snapshot keeps of each job (`super::snapshot`,
//! with the ids translated by name on load): changing it means a new
//! snapshot version, and `tests/snapshot_format.rs` loads a version-1 file to
//! catch a change made by accident.

// The one exception to the crate's `deny(unsafe_code)`: a record is one
// allocation behind a thin pointer (8 bytes a table slot instead of the 16
// of a Box<[u8]>: at a million jobs, two million slots), its length read
// back from its own header. Every unsafe block says why it is sound, and
// `from_bytes` / `try_from_bytes` only admit bytes whose header describes
// them exactly.
#![allow(unsafe_code)]

use std::ptr::NonNull;
use std::time::Duration;

use super::little_endian::{u16_at, u32_at, u64_at};
use crate::engine::classify::CategoryId;
use crate::engine::policy::PolicyId;
use crate::engine::{Action, Decision, Job, JobState, TargetId, Timestamp, Why, ms_u32};
use crate::labels::LabelId;
use crate::state::prefix;
use crate::state::stored_codes::{
    class_code, class_of, kind_code, kind_of, reason_code, reason_of, state_code, state_of, why_of,
    why_parts,
};

pub const HEADER: usize = 54;
/// The fixed part of a parcel.
pub const PARCEL: usize = 48;
/// Byte 45's flag: the record carries a parcel.
const HAS_PARCEL: u8 = 1 << 6;
const INTERNED: u16 = 0x8000;
const NO_RULE: u16 = u16::MAX;
const NO_TARGET: u16 = u16::MAX;

/// The fixed part of a job's record, decoded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Head {
    pub job: Job,
    pub label: LabelId,
    pub http_status: u16,
    pub grpc_code: u8,
    pub retryable: Option<bool>,
}

/// Which delivery index holds a parcel's job.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Index {
    /// Neither: the job is dead or cancelled (its payload kept).
    #[default]
    None,
    /// Its queue's due index, keyed by `due_at`.
    Due,
    /// The lease index, keyed by `lease_until`.
    Lease,
}

/// Where a job held for delivery stands (the parcel's fixed part).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Parcel {
    /// Hand-outs since the job was last settled.
    pub unsettled: u16,
    /// Every hand-out.
    pub deliveries: u32,
    /// The current lease; 0: none.
    pub lease: u64,
    pub lease_until: Timestamp,
    pub due_at: Timestamp,
    pub index: Index,
    /// The second half of its key in `index` (the first is the time).
    pub seq: u64,
}

/// A parcel with its texts, for a record being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carried<'a> {
    pub parcel: Parcel,
    pub queue: &'a str,
    pub payload: &'a [u8],
}

/// Where a job's error type name is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TypeRef<'a> {
    /// In the store's interner (ids below 0x8000).
    Interned(u16),
    Inline(&'a str),
}

/// The texts of a record, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Texts<'a> {
    pub id: &'a str,
    pub type_name: TypeRef<'a>,
    /// `None`: the job type is the label's own name.
    pub job_type: Option<&'a str>,
    pub message: &'a str,
}

/// A record's bytes behind one thin pointer: a table slot is 8 bytes, not
/// the 16 of a `Box<[u8]>` (at a million jobs the table has two million
/// slots), and the length is read back from the record's own header.
pub struct Record {
    ptr: NonNull<u8>,
}

// SAFETY: a Record owns its allocation exclusively, as a Box<[u8]> does, and
// hands out references to it only through &self / &mut self.
unsafe impl Send for Record {}
// SAFETY: as above; &Record only reads.
unsafe impl Sync for Record {}

impl Drop for Record {
    fn drop(&mut self) {
        let len = self.total_len();
        // SAFETY: `ptr` came from `Box::<[u8]>::into_raw` of a slice of this
        // very length (`from_bytes`), and is dropped once.
        unsafe {
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.ptr.as_ptr(),
                len,
            )));
        }
    }
}

impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Record {}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("id", &self.id())
            .field("len", &self.total_len())
            .finish()
    }
}

fn secs_between(earlier: Timestamp, later: Timestamp) -> u32 {
    u32::try_from(later.since(earlier).as_secs()).unwrap_or(u32::MAX)
}

/// Texts are validated UTF-8 on the way in; a slice between their recorded
/// bounds is UTF-8 again. Anything else would be a bug in this module, and
/// an empty string is a safe answer to it.
/// Where a record's type name is: interned (its id) or inline (its bytes).
enum TypeField {
    Interned(u16),
    Inline(std::ops::Range<usize>),
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or_default()
}

/// A record's total length from its header `h`; `byte_at` reads the job
/// type's length byte when the header says there is one.
fn len_in(h: &[u8], byte_at: impl Fn(usize) -> u8) -> usize {
    let id = usize::from(u16_at(h, 48));
    let type_field = u16_at(h, 50);
    let type_len = if type_field & INTERNED != 0 {
        0
    } else {
        usize::from(type_field)
    };
    let mut len = HEADER + id + type_len + usize::from(u16_at(h, 52));
    if h[45] & (1 << 5) != 0 {
        len += 1 + usize::from(byte_at(HEADER + id + type_len));
    }
    if h[45] & HAS_PARCEL != 0 {
        let payload = u32::from_le_bytes([0, 1, 2, 3].map(|i| byte_at(len + i)));
        len += PARCEL + usize::from(byte_at(len + 4)) + payload as usize;
    }
    len
}

/// Whether every text of a record whose lengths are consistent is UTF-8
/// (and its id is not empty).
fn texts_are_utf8(b: &[u8]) -> bool {
    let id = usize::from(u16_at(b, 48));
    let type_field = u16_at(b, 50);
    let type_len = if type_field & INTERNED != 0 {
        0
    } else {
        usize::from(type_field)
    };
    let utf8 = |from: usize, n: usize| std::str::from_utf8(&b[from..from + n]).is_ok();
    let mut at = HEADER;
    if id == 0 || !utf8(at, id) {
        return false;
    }
    at += id;
    if !utf8(at, type_len) {
        return false;
    }
    at += type_len;
    if b[45] & (1 << 5) != 0 {
        let n = usize::from(b[at]);
        if !utf8(at + 1, n) {
            return false;
        }
        at += 1 + n;
    }
    let message = usize::from(u16_at(b, 52));
    if !utf8(at, message) {
        return false;
    }
    at += message;
    if b[45] & HAS_PARCEL != 0 {
        let queue = usize::from(b[at + 4]);
        return b[at + 5] <= 2 && utf8(at + PARCEL, queue);
    }
    at == b.len()
}

/// Writes the fixed part of `h` into the first `HEADER` bytes of `b`.
fn write_head(b: &mut [u8], h: &Head) {
    let j = &h.job;
    let d = &j.last_decision;
    let last = j.last_failure_at;
    let offset = (i128::from(last.0) - i128::from(j.updated_at.0))
        .clamp(i128::from(i32::MIN), i128::from(i32::MAX));
    b[0..8].copy_from_slice(&j.updated_at.0.to_le_bytes());
    b[8..12].copy_from_slice(&(offset as i32).to_le_bytes());
    b[12..16].copy_from_slice(&secs_between(j.first_failure_at, last).to_le_bytes());
    b[16..20].copy_from_slice(&j.failure_count.to_le_bytes());
    b[20..24].copy_from_slice(&j.last_attempt.to_le_bytes());
    b[24..28].copy_from_slice(&ms_u32(d.delay).to_le_bytes());
    let (kind, a, bb, c, payload) = why_parts(d.why);
    b[28..32].copy_from_slice(&payload.to_le_bytes());
    b[32..34].copy_from_slice(&d.policy.0.to_le_bytes());
    b[34..36].copy_from_slice(&d.category.0.to_le_bytes());
    b[36..38].copy_from_slice(&h.label.0.to_le_bytes());
    b[38..40].copy_from_slice(&h.http_status.to_le_bytes());
    b[40..42].copy_from_slice(&d.rule.unwrap_or(NO_RULE).to_le_bytes());
    let retryable = match h.retryable {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    };
    b[42] = state_code(j.state)
        | (u8::from(d.action == Action::Retry) << 2)
        | (u8::from(j.rebase_attempt) << 3)
        | (retryable << 4)
        | (u8::from(a) << 6)
        | (u8::from(bb) << 7);
    b[43] = reason_code(d.reason) | (class_code(d.error_class) << 3) | (kind_code(d.matched) << 5);
    b[44] = h.grpc_code;
    // Keep the job-type and parcel flags (bits 5, 6), which belong to the texts.
    b[45] = (b[45] & ((1 << 5) | HAS_PARCEL)) | (kind & 0x0f) | (u8::from(c) << 4);
    b[46..48].copy_from_slice(&d.target.map_or(NO_TARGET, |t| t.0).to_le_bytes());
}

/// Texts a record header cannot describe.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("a record's {field} holds at most {max} bytes, got {len}")]
pub struct TooLong {
    pub field: &'static str,
    pub len: usize,
    pub max: usize,
}

/// What the header's length fields can hold.
const MAX_ID: usize = u16::MAX as usize;
const MAX_INLINE_TYPE: usize = (INTERNED - 1) as usize;
const MAX_JOB_TYPE: usize = u8::MAX as usize;
const MAX_MESSAGE: usize = u16::MAX as usize;
const MAX_QUEUE: usize = u8::MAX as usize;
/// The largest payload a record takes: `[delivery] max_payload_bytes` is
/// bounded well below it.
pub const MAX_PAYLOAD: usize = 64 * 1024 * 1024;
/// The largest record: every text and the parcel at their limits.
pub const MAX_RECORD: usize = HEADER
    + MAX_ID
    + MAX_INLINE_TYPE
    + 1
    + MAX_JOB_TYPE
    + MAX_MESSAGE
    + PARCEL
    + MAX_QUEUE
    + MAX_PAYLOAD;

/// Writes a parcel's changing fields (all but the two lengths) into its
/// fixed part `b`.
fn write_parcel(b: &mut [u8], p: &Parcel) {
    b[5] = match p.index {
        Index::None => 0,
        Index::Due => 1,
        Index::Lease => 2,
    };
    b[6..8].copy_from_slice(&p.unsettled.to_le_bytes());
    b[8..12].copy_from_slice(&p.deliveries.to_le_bytes());
    b[12..16].copy_from_slice(&[0; 4]);
    b[16..24].copy_from_slice(&p.lease.to_le_bytes());
    b[24..32].copy_from_slice(&p.lease_until.0.to_le_bytes());
    b[32..40].copy_from_slice(&p.due_at.0.to_le_bytes());
    b[40..48].copy_from_slice(&p.seq.to_le_bytes());
}

fn read_parcel(b: &[u8]) -> Parcel {
    Parcel {
        index: match b[5] {
            1 => Index::Due,
            2 => Index::Lease,
            _ => Index::None,
        },
        unsettled: u16_at(b, 6),
        deliveries: u32_at(b, 8),
        lease: u64_at(b, 16),
        lease_until: Timestamp(u64_at(b, 24)),
        due_at: Timestamp(u64_at(b, 32)),
        seq: u64_at(b, 40),
    }
}

impl Texts<'_> {
    fn lengths(&self) -> [(&'static str, usize, usize); 4] {
        let inline = match self.type_name {
            TypeRef::Inline(t) => t.len(),
            TypeRef::Interned(_) => 0,
        };
        [
            ("id", self.id.len(), MAX_ID),
            ("error type", inline, MAX_INLINE_TYPE),
            ("job type", self.job_type.map_or(0, str::len), MAX_JOB_TYPE),
            ("message", self.message.len(), MAX_MESSAGE),
        ]
    }
}

impl Record {
    /// A record of `head`, `texts` and the parcel it carries, if any; or
    /// which text is too long for it (a snapshot's dictionary may name an
    /// error type of any length).
    pub fn encode(
        head: &Head,
        texts: &Texts<'_>,
        carried: Option<&Carried<'_>>,
    ) -> Result<Record, TooLong> {
        for (field, len, max) in texts.lengths() {
            if len > max {
                return Err(TooLong { field, len, max });
            }
        }
        if let Some(c) = carried {
            for (field, len, max) in [
                ("queue", c.queue.len(), MAX_QUEUE),
                ("payload", c.payload.len(), MAX_PAYLOAD),
            ] {
                if len > max {
                    return Err(TooLong { field, len, max });
                }
            }
        }
        Ok(Self::build(head, texts, carried))
    }

    /// A record of a live report, whose texts the API bounds well below the
    /// header's limits: any text past them is cut on a char boundary, so a
    /// bug upstream shortens a text instead of failing the report.
    /// (A payload the edge lets through is far below `MAX_PAYLOAD`; one
    /// past it is cut too.)
    pub fn encode_clamped(head: &Head, texts: &Texts<'_>, carried: Option<&Carried<'_>>) -> Record {
        let type_name = match texts.type_name {
            TypeRef::Inline(t) => TypeRef::Inline(prefix(t, MAX_INLINE_TYPE)),
            interned => interned,
        };
        let carried = carried.map(|c| Carried {
            queue: prefix(c.queue, MAX_QUEUE),
            payload: &c.payload[..c.payload.len().min(MAX_PAYLOAD)],
            ..*c
        });
        Self::build(
            head,
            &Texts {
                id: prefix(texts.id, MAX_ID),
                type_name,
                job_type: texts.job_type.map(|t| prefix(t, MAX_JOB_TYPE)),
                message: prefix(texts.message, MAX_MESSAGE),
            },
            carried.as_ref(),
        )
    }

    /// Texts within the header's limits (checked by both callers).
    fn build(head: &Head, texts: &Texts<'_>, carried: Option<&Carried<'_>>) -> Record {
        let type_inline = match texts.type_name {
            TypeRef::Inline(t) => t.as_bytes(),
            TypeRef::Interned(_) => &[],
        };
        let job_type = texts.job_type.map(str::as_bytes);
        let len = HEADER
            + texts.id.len()
            + type_inline.len()
            + job_type.map_or(0, |t| 1 + t.len())
            + texts.message.len()
            + carried.map_or(0, |c| PARCEL + c.queue.len() + c.payload.len());
        let mut h = [0u8; HEADER];
        write_head(&mut h, head);
        // One allocation of exactly the record's size: a shrink and a regrow
        // would leave a free fragment behind per job.
        let mut b = Vec::with_capacity(len);
        b.extend_from_slice(&h);
        let as_u16 = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        let lengths = [
            as_u16(texts.id.len()),
            match texts.type_name {
                TypeRef::Interned(id) => id | INTERNED,
                TypeRef::Inline(t) => as_u16(t.len()) & !INTERNED,
            },
            as_u16(texts.message.len()),
        ];
        for (i, l) in lengths.iter().enumerate() {
            b[48 + 2 * i..50 + 2 * i].copy_from_slice(&l.to_le_bytes());
        }
        b.extend_from_slice(texts.id.as_bytes());
        b.extend_from_slice(type_inline);
        if let Some(t) = job_type {
            b[45] |= 1 << 5;
            b.push(u8::try_from(t.len()).unwrap_or(u8::MAX));
            b.extend_from_slice(t);
        }
        b.extend_from_slice(texts.message.as_bytes());
        if let Some(c) = carried {
            b[45] |= HAS_PARCEL;
            let at = b.len();
            b.resize(at + PARCEL, 0);
            b[at..at + 4].copy_from_slice(&(c.payload.len() as u32).to_le_bytes());
            b[at + 4] = u8::try_from(c.queue.len()).unwrap_or(u8::MAX);
            write_parcel(&mut b[at..at + PARCEL], &c.parcel);
            b.extend_from_slice(c.queue.as_bytes());
            b.extend_from_slice(c.payload);
        }
        Record::from_bytes(b.into_boxed_slice())
    }

    /// Takes a complete record: its header's lengths must describe `b`
    /// exactly, or the allocation could not be freed with its own layout
    /// (`build` is only given texts within the header's limits).
    fn from_bytes(b: Box<[u8]>) -> Record {
        assert!(
            b.len() >= HEADER
                && len_in(&b[..HEADER], |at| b.get(at).copied().unwrap_or(0)) == b.len(),
            "record header lengths disagree with its size"
        );
        Record {
            ptr: NonNull::from(Box::leak(b)).cast::<u8>(),
        }
    }

    /// The record's length, from its header (and the job-type length byte).
    fn total_len(&self) -> usize {
        // SAFETY: every record is at least HEADER bytes long (from_bytes).
        let h = unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), HEADER) };
        // SAFETY: len_in asks only for the job type's length byte, which
        // follows the id and the inline type inside the allocation.
        len_in(h, |at| unsafe { *self.ptr.as_ptr().add(at) })
    }

    /// A record read back from a snapshot: `None` unless its header's
    /// lengths describe `b` exactly and every text is UTF-8.
    pub fn try_from_bytes(b: Box<[u8]>) -> Option<Record> {
        if b.len() < HEADER || b.len() > MAX_RECORD {
            return None;
        }
        // The job type's length byte, if any, lies inside `b`.
        let at = |i: usize| b.get(i).copied().unwrap_or(u8::MAX);
        if len_in(&b[..HEADER], at) != b.len() {
            return None;
        }
        let r = Record {
            ptr: NonNull::from(Box::leak(b)).cast::<u8>(),
        };
        let ok = texts_are_utf8(r.bytes());
        // Dropping `r` frees the allocation with the length just checked.
        ok.then_some(r)
    }

    /// The record's bytes, as a snapshot keeps them.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the allocation is `total_len` bytes, initialised by encode,
        // and lives as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.total_len()) }
    }

    /// Where the parcel's fixed part starts, if the record has one.
    fn parcel_at(&self) -> Option<usize> {
        let b = self.bytes();
        if b[45] & HAS_PARCEL == 0 {
            return None;
        }
        Some(self.layout().2.end)
    }

    /// Where the job stands for delivery, if retryd holds it for delivery.
    pub fn parcel(&self) -> Option<Parcel> {
        let at = self.parcel_at()?;
        Some(read_parcel(&self.bytes()[at..at + PARCEL]))
    }

    /// The queue and payload of the parcel, if the record has one.
    pub fn carried(&self) -> Option<Carried<'_>> {
        let at = self.parcel_at()?;
        let b = self.bytes();
        let queue = usize::from(b[at + 4]);
        let q = at + PARCEL;
        Some(Carried {
            parcel: read_parcel(&b[at..at + PARCEL]),
            queue: text(&b[q..q + queue]),
            payload: &b[q + queue..],
        })
    }

    /// Rewrites the parcel's fixed part in place (its queue and payload
    /// stay); a record without one is left as it is.
    pub fn write_parcel(&mut self, p: &Parcel) {
        if let Some(at) = self.parcel_at() {
            // SAFETY: the parcel's fixed part lies inside the allocation
            // (`parcel_at` found it from the record's own lengths), and
            // &mut self is exclusive.
            let b = unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), at + PARCEL) };
            write_parcel(&mut b[at..], p);
        }
    }

    fn header_mut(&mut self) -> &mut [u8] {
        // SAFETY: the first HEADER bytes are ours, and &mut self is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), HEADER) }
    }

    /// Rewrites the fixed part in place (the texts stay as they are).
    pub fn write_head(&mut self, h: &Head) {
        write_head(self.header_mut(), h);
    }

    pub fn head(&self) -> Head {
        let b = self.bytes();
        let updated = Timestamp(u64_at(b, 0));
        let offset = i64::from(u32_at(b, 8) as i32);
        let last = Timestamp(updated.0.saturating_add_signed(offset));
        let first = Timestamp(last.0.saturating_sub(u64::from(u32_at(b, 12)) * 1000));
        let delay = Duration::from_millis(u64::from(u32_at(b, 24)));
        let action = if b[42] & (1 << 2) != 0 {
            Action::Retry
        } else {
            Action::GiveUp
        };
        let why = why_of(
            b[45] & 0x0f,
            b[42] & (1 << 6) != 0,
            b[42] & (1 << 7) != 0,
            b[45] & (1 << 4) != 0,
            u32_at(b, 28),
        );
        let retry_at = match (action, why) {
            (Action::GiveUp, _) => None,
            (Action::Retry, Why::ManualRetry { .. }) => Some(updated),
            (Action::Retry, _) => Some(last.saturating_add(delay)),
        };
        let rule = u16_at(b, 40);
        let failure_count = u32_at(b, 16);
        Head {
            job: Job {
                state: state_of(b[42]),
                failure_count,
                last_attempt: u32_at(b, 20),
                rebase_attempt: b[42] & (1 << 3) != 0,
                first_failure_at: first,
                last_failure_at: last,
                updated_at: updated,
                last_decision: Decision {
                    action,
                    reason: reason_of(b[43] & 7),
                    error_class: class_of((b[43] >> 3) & 3),
                    category: CategoryId(u16_at(b, 34)),
                    rule: (rule != NO_RULE).then_some(rule),
                    matched: kind_of(b[43] >> 5),
                    policy: PolicyId(u16_at(b, 32)),
                    target: match u16_at(b, 46) {
                        NO_TARGET => None,
                        t => Some(TargetId(t)),
                    },
                    failure_count,
                    delay,
                    retry_at,
                    why,
                },
            },
            label: LabelId(u16_at(b, 36)),
            http_status: u16_at(b, 38),
            grpc_code: b[44],
            retryable: match (b[42] >> 4) & 3 {
                1 => Some(false),
                2 => Some(true),
                _ => None,
            },
        }
    }

    pub fn texts(&self) -> Texts<'_> {
        let b = self.bytes();
        let (type_field, job_type, message) = self.layout();
        Texts {
            id: text(self.id_bytes()),
            type_name: match type_field {
                TypeField::Interned(id) => TypeRef::Interned(id),
                TypeField::Inline(r) => TypeRef::Inline(text(&b[r])),
            },
            job_type: job_type.map(|r| text(&b[r])),
            message: text(&b[message]),
        }
    }

    pub fn id(&self) -> &str {
        let b = self.bytes();
        let n = usize::from(u16_at(b, 48));
        text(&b[HEADER..HEADER + n])
    }

    /// The id's bytes, for comparing with a looked-up id (no UTF-8 check).
    pub fn id_bytes(&self) -> &[u8] {
        let b = self.bytes();
        let n = usize::from(u16_at(b, 48));
        &b[HEADER..HEADER + n]
    }

    /// Where the type (inline or interned), job type and message sit:
    /// `texts` without decoding any of them.
    fn layout(
        &self,
    ) -> (
        TypeField,
        Option<std::ops::Range<usize>>,
        std::ops::Range<usize>,
    ) {
        let b = self.bytes();
        let id_len = usize::from(u16_at(b, 48));
        let type_field = u16_at(b, 50);
        let msg_len = usize::from(u16_at(b, 52));
        let mut at = HEADER + id_len;
        let type_name = if type_field & INTERNED != 0 {
            TypeField::Interned(type_field & !INTERNED)
        } else {
            let n = usize::from(type_field);
            at += n;
            TypeField::Inline(at - n..at)
        };
        let job_type = if b[45] & (1 << 5) != 0 {
            let n = usize::from(b[at]);
            at += 1 + n;
            Some(at - n..at)
        } else {
            None
        };
        (type_name, job_type, at..at + msg_len)
    }

    /// The job type kept in the record, if it has its own.
    pub fn job_type(&self) -> Option<&str> {
        self.layout().1.map(|r| text(&self.bytes()[r]))
    }

    /// The error texts equal these: the fixed part can be rewritten in place.
    /// (Compared as bytes: nothing is decoded.)
    pub fn same_error(&self, type_name: TypeRef<'_>, message: &str) -> bool {
        let b = self.bytes();
        let (t, _, m) = self.layout();
        let same_type = match (t, type_name) {
            (TypeField::Interned(a), TypeRef::Interned(b)) => a == b,
            (TypeField::Inline(r), TypeRef::Inline(t)) => &b[r] == t.as_bytes(),
            _ => false,
        };
        same_type && &b[m] == message.as_bytes()
    }

    pub fn state(&self) -> JobState {
        state_of(self.bytes()[42])
    }

    pub fn label(&self) -> LabelId {
        LabelId(u16_at(self.bytes(), 36))
    }

    pub fn updated_at(&self) -> Timestamp {
        Timestamp(u64_at(self.bytes(), 0))
    }

    /// Bytes on the heap (for tests and measurements).
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        self.total_len()
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
