//! Operators' pauses in the fleet's hash `P:pauses` (field `j:<job type>`
//! or `t:<target>`, value `<until ms>:<created ms>`). Each sidecar decides
//! from its mirror (`state::pauses`), refreshed every second; a pause whose
//! time ran out stays in the hash until the scope is paused again or
//! resumed, and is ignored.

use super::{Op, Redis};
use crate::state::StateError;
use crate::state::pauses::{Pause, Scope};

impl Redis {
    pub async fn pause_set(&self, p: &Pause) -> Result<(), StateError> {
        self.link
            .query::<()>(
                Op::Live,
                redis::cmd("HSET")
                    .arg(self.keys.pauses())
                    .arg(p.scope.field())
                    .arg(p.value()),
            )
            .await
    }

    pub async fn pause_remove(&self, scope: &Scope) -> Result<(), StateError> {
        self.link
            .query::<()>(
                Op::Live,
                redis::cmd("HDEL")
                    .arg(self.keys.pauses())
                    .arg(scope.field()),
            )
            .await
    }

    /// Every pause in the hash (a field that does not parse is skipped).
    pub async fn pauses(&self) -> Result<Vec<Pause>, StateError> {
        let all: Vec<(String, String)> = self
            .link
            .query(Op::Live, redis::cmd("HGETALL").arg(self.keys.pauses()))
            .await?;
        Ok(all
            .into_iter()
            .filter_map(|(f, v)| Pause::from_value(Scope::from_field(&f)?, &v))
            .collect())
    }
}
