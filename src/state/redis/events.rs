//! The fleet's event stream: a capped Redis stream `P:events` that every
//! sidecar appends its events to while some sidecar has a watcher (the flag
//! `P:events:watched`, kept alive by those sidecars), and that sidecars
//! with watchers read from. Polled, not blocking: a blocking read would
//! hold the connection every other call shares.

use super::{Op, Redis};
use crate::state::StateError;

/// Entries kept in the stream (approximately: `MAXLEN ~`).
const KEEP: usize = 10_000;

/// How long the watched flag outlives its last renewal (ms).
pub const WATCHED_FOR_MS: u64 = 3_000;

/// One entry read back: its id, the sidecar that wrote it, the encoded event.
pub type Entry = (String, String, Vec<u8>);

/// A stream entry as Redis answers it: its id and its fields.
type Raw = Vec<(String, Vec<(String, Vec<u8>)>)>;

impl Redis {
    /// Appends encoded events written by sidecar `me`, in one pipeline.
    pub async fn append_events(&self, me: &str, events: &[Vec<u8>]) -> Result<(), StateError> {
        let (stream, _) = self.keys.events();
        let mut pipe = redis::pipe();
        for e in events {
            pipe.cmd("XADD")
                .arg(&stream)
                .arg("MAXLEN")
                .arg("~")
                .arg(KEEP)
                .arg("*")
                .arg("o")
                .arg(me)
                .arg("e")
                .arg(e.as_slice())
                .ignore();
        }
        self.link.pipeline::<()>(Op::Live, &pipe).await
    }

    /// Whether some sidecar has a watcher.
    pub async fn events_watched(&self) -> Result<bool, StateError> {
        let (_, flag) = self.keys.events();
        self.link
            .query(Op::Live, redis::cmd("EXISTS").arg(flag))
            .await
    }

    /// This sidecar has a watcher: renews the flag.
    pub async fn mark_watched(&self) -> Result<(), StateError> {
        let (_, flag) = self.keys.events();
        self.link
            .query::<()>(
                Op::Live,
                redis::cmd("SET")
                    .arg(flag)
                    .arg(1)
                    .arg("PX")
                    .arg(WATCHED_FOR_MS),
            )
            .await
    }

    /// The id of the newest entry ("0-0" for none): where a reader starts.
    pub async fn last_event_id(&self) -> Result<String, StateError> {
        let (stream, _) = self.keys.events();
        let last: Raw = self
            .link
            .query(
                Op::Live,
                redis::cmd("XREVRANGE")
                    .arg(stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(1),
            )
            .await?;
        Ok(last
            .into_iter()
            .next()
            .map_or_else(|| "0-0".to_string(), |(id, _)| id))
    }

    /// Up to `count` entries after `after`, oldest first.
    pub async fn read_events(&self, after: &str, count: usize) -> Result<Vec<Entry>, StateError> {
        let (stream, _) = self.keys.events();
        let got: Raw = self
            .link
            .query(
                Op::Live,
                redis::cmd("XRANGE")
                    .arg(stream)
                    .arg(format!("({after}"))
                    .arg("+")
                    .arg("COUNT")
                    .arg(count),
            )
            .await?;
        Ok(got
            .into_iter()
            .map(|(id, fields)| {
                let (mut origin, mut event) = (String::new(), Vec::new());
                for (k, v) in fields {
                    match k.as_str() {
                        "o" => origin = String::from_utf8_lossy(&v).into_owned(),
                        "e" => event = v,
                        _ => {}
                    }
                }
                (id, origin, event)
            })
            .collect())
    }
}
