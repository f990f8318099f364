//! A sharded hash table of records keyed by the job id they contain.
//!
//! `hashbrown::HashTable` stores just the record (a boxed byte slice: 16
//! bytes a slot) and looks it up by the id inside it, so a job's id is
//! stored once. 64 shards, each behind its own lock, keep concurrent reports
//! of different jobs from contending, while reports of one job serialise on
//! its shard's write lock.

use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use foldhash::fast::FixedState;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry;

use super::record::Record;

pub const SHARDS: usize = 64;

/// One shard on cache lines of its own: two cores updating jobs of
/// neighbouring shards must not fight over one line (false sharing).
#[repr(align(128))]
struct Shard(RwLock<HashTable<Record>>);

pub struct Table {
    shards: Box<[Shard]>,
    hasher: FixedState,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            shards: (0..SHARDS)
                .map(|_| Shard(RwLock::new(HashTable::new())))
                .collect(),
            // A fixed seed: ids come from callers, but a flood of colliding
            // ids only slows its own shard, and the shard count bounds it.
            hasher: FixedState::with_seed(0x5eed_7e7d),
        }
    }
}

// The locks guard tables whose operations never leave them inconsistent when
// a closure panics, so a poisoned lock is used as it is.
fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

impl Table {
    /// The hash a job's id is kept under (the delivery indexes name jobs by it).
    pub fn hash(&self, id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(id)
    }

    /// The shard from bits that hashbrown does not use for the bucket index
    /// (low bits) or the tag (top 7 bits) within the shard.
    fn shard(&self, hash: u64) -> &RwLock<HashTable<Record>> {
        &self.shards[((hash >> 32) as usize) % SHARDS].0
    }

    /// Runs `f` on the record of `id`, if any, under the shard's read lock.
    pub fn get<R>(&self, id: &str, f: impl FnOnce(&Record) -> R) -> Option<R> {
        let hash = self.hash(id);
        let shard = read(self.shard(hash));
        shard.find(hash, |r| r.id_bytes() == id.as_bytes()).map(f)
    }

    /// Runs `f` on the entry of `id` under the shard's write lock.
    pub fn entry<R>(&self, id: &str, f: impl FnOnce(Entry<'_, Record>) -> R) -> R {
        let hash = self.hash(id);
        let mut shard = write(self.shard(hash));
        let entry = shard.entry(
            hash,
            |r| r.id_bytes() == id.as_bytes(),
            |r| self.hash(r.id()),
        );
        f(entry)
    }

    /// Runs `f` on the record with hash `hash` for which `is` holds, if
    /// any, under its shard's write lock (the delivery indexes find jobs so).
    pub fn entry_by_hash<R>(
        &self,
        hash: u64,
        is: impl Fn(&Record) -> bool,
        f: impl FnOnce(&mut Record) -> R,
    ) -> Option<R> {
        let mut shard = write(self.shard(hash));
        shard.find_mut(hash, |r| is(r)).map(f)
    }

    /// Removes the record of `id` if `remove_if` holds for it.
    pub fn remove_if(&self, id: &str, remove_if: impl FnOnce(&Record) -> bool) -> Option<Record> {
        self.entry(id, |e| match e {
            Entry::Occupied(o) if remove_if(o.get()) => Some(o.remove().0),
            _ => None,
        })
    }

    /// Keeps the records for which `keep` holds, one shard at a time (each
    /// shard is locked only while it is scanned).
    pub fn retain(&self, mut keep: impl FnMut(&Record) -> bool) {
        for s in self.shards.iter() {
            write(&s.0).retain(|r| keep(r));
        }
    }

    /// Appends every record of shard `i` to `out`, each as a little-endian
    /// u32 length and its bytes, under the shard's read lock only; returns
    /// how many. (A snapshot copies one shard at a time and writes it to disk
    /// after the lock is released.)
    pub fn copy_shard(&self, i: usize, out: &mut Vec<u8>) -> u64 {
        let Some(shard) = self.shards.get(i) else {
            return 0;
        };
        let t = read(&shard.0);
        for r in t.iter() {
            let b = r.bytes();
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        }
        t.len() as u64
    }

    /// Inserts a record unless one with its id is there already.
    pub fn insert_new(&self, rec: Record) -> bool {
        let id = rec.id().to_owned();
        self.entry(&id, |e| match e {
            Entry::Vacant(v) => {
                v.insert(rec);
                true
            }
            Entry::Occupied(_) => false,
        })
    }

    /// Runs `f` with every shard write-locked at once (nothing reads or
    /// changes a record meanwhile), first letting `each` change every record.
    pub fn with_all_locked<R>(
        &self,
        mut each: impl FnMut(&mut Record),
        f: impl FnOnce() -> R,
    ) -> R {
        let mut guards: Vec<_> = self.shards.iter().map(|s| write(&s.0)).collect();
        for g in guards.iter_mut() {
            g.iter_mut().for_each(&mut each);
        }
        let out = f();
        drop(guards);
        out
    }

    /// Visits every record, one shard at a time under its read lock.
    pub fn for_each(&self, mut f: impl FnMut(&Record)) {
        for s in self.shards.iter() {
            read(&s.0).iter().for_each(&mut f);
        }
    }
}
