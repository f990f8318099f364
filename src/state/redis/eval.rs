//! A Lua script call as a command of its own (`EVALSHA`), so that it can
//! go in a pipeline (a commit followed by `WAIT`); loaded first if Redis
//! does not know the script, as redis-rs's own invocation does.

use redis::aio::ConnectionLike;
use redis::{Cmd, FromRedisValue, Pipeline, RedisResult, Script, ToRedisArgs};

pub struct Eval<'a> {
    script: &'a Script,
    keys: Vec<Vec<u8>>,
    args: Vec<Vec<u8>>,
}

impl<'a> Eval<'a> {
    pub fn new(script: &'a Script) -> Eval<'a> {
        Eval {
            script,
            keys: Vec::with_capacity(16),
            args: Vec::with_capacity(32),
        }
    }

    pub fn key<T: ToRedisArgs>(&mut self, key: T) -> &mut Self {
        self.keys.extend(key.to_redis_args());
        self
    }

    pub fn arg<T: ToRedisArgs>(&mut self, arg: T) -> &mut Self {
        self.args.extend(arg.to_redis_args());
        self
    }

    /// `EVALSHA sha numkeys keys... args...`.
    pub fn cmd(&self) -> Cmd {
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(self.script.get_hash())
            .arg(self.keys.len())
            .arg(&self.keys)
            .arg(&self.args);
        cmd
    }

    /// Runs the script alone.
    pub async fn query<T: FromRedisValue, C: ConnectionLike>(&self, con: &mut C) -> RedisResult<T> {
        let cmd = self.cmd();
        match cmd.query_async(con).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.script.prepare_invoke().load_async(con).await?;
                cmd.query_async(con).await
            }
            r => r,
        }
    }

    /// Runs `pipe`, which holds this script's command.
    pub async fn in_pipeline<T: FromRedisValue, C: ConnectionLike>(
        &self,
        pipe: &Pipeline,
        con: &mut C,
    ) -> RedisResult<T> {
        match pipe.query_async(con).await {
            Err(e) if e.code() == Some("NOSCRIPT") => {
                self.script.prepare_invoke().load_async(con).await?;
                pipe.query_async(con).await
            }
            r => r,
        }
    }
}
