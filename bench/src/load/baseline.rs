//! `retryd-bench baseline`: alternate runs against the echo and retryd at
//! each concurrency level, and their medians.

use serde_json::json;

use crate::servers::{spawn_echo, spawn_retryd, wait_ready};
use crate::{Error, LoadOpts, SpawnOpts};

use super::{Run, Target, message_sizes, run_load_measured};

pub(crate) async fn baseline_cmd(
    o: LoadOpts,
    spawn: SpawnOpts,
    rounds: usize,
    concurrencies: &[usize],
) -> Result<(), Error> {
    let (retryd_child, retryd_addr) = spawn_retryd(&spawn)?;
    let (echo_child, echo_addr) = spawn_echo()?;
    let (retryd_pid, echo_pid) = (retryd_child.0.id(), echo_child.0.id());
    wait_ready(retryd_addr).await?;
    wait_ready(echo_addr).await?;
    let (request, response) = message_sizes(retryd_addr).await?;
    let levels: Vec<usize> = if concurrencies.is_empty() {
        vec![o.concurrency]
    } else {
        concurrencies.to_vec()
    };
    let mut summary = Vec::new();
    for &c in &levels {
        let o = LoadOpts {
            concurrency: c,
            ..o.clone()
        };
        if !o.json {
            println!(
                "{c} in flight over {} channels ({:?} client), {:?} per run after {:?} warm-up, {rounds} rounds; echo mimics {request} B requests, {response} B responses",
                o.channels.min(c.max(1)),
                o.client,
                o.duration,
                o.warmup
            );
        }
        let mut m = Medians::default();
        for _ in 0..rounds.max(1) {
            let echo = run_load_measured(
                &[echo_addr],
                Target::Echo { request, response },
                &o,
                &[echo_pid],
            )
            .await?;
            echo.print("echo", o.json);
            let retryd =
                run_load_measured(&[retryd_addr], Target::Retryd, &o, &[retryd_pid]).await?;
            retryd.print("retryd", o.json);
            m.push(&echo, &retryd);
        }
        let s = m.summary(c);
        if o.json {
            println!("{}", s.json());
        } else {
            println!("{}", s.text(rounds));
        }
        summary.push(s);
    }
    if !o.json && summary.len() > 1 {
        println!("medians of {rounds} alternating rounds:");
        for s in &summary {
            println!("{}", s.text(rounds));
        }
    }
    Ok(())
}

/// Per-round figures of a baseline, echo then retryd.
#[derive(Default)]
struct Medians {
    rate: [Vec<f64>; 2],
    p50: [Vec<f64>; 2],
    p99: [Vec<f64>; 2],
    cpu: [Vec<f64>; 2],
    rate_ratio: Vec<f64>,
    p99_ratio: Vec<f64>,
    cpu_ratio: Vec<f64>,
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

impl Medians {
    fn push(&mut self, echo: &Run, retryd: &Run) {
        for (k, r) in [echo, retryd].into_iter().enumerate() {
            self.rate[k].push(r.rate());
            self.p50[k].push(r.micros(0.5) as f64);
            self.p99[k].push(r.micros(0.99) as f64);
            self.cpu[k].push(r.cpu_per_call().unwrap_or(f64::NAN));
        }
        self.rate_ratio.push(retryd.rate() / echo.rate());
        self.p99_ratio
            .push(retryd.micros(0.99) as f64 / echo.micros(0.99).max(1) as f64);
        if let (Some(r), Some(e)) = (retryd.cpu_per_call(), echo.cpu_per_call()) {
            self.cpu_ratio.push(r / e);
        }
    }

    fn summary(&self, concurrency: usize) -> Summary {
        let m = |v: &[Vec<f64>; 2]| [median(&v[0]), median(&v[1])];
        Summary {
            concurrency,
            rate: m(&self.rate),
            p50: m(&self.p50),
            p99: m(&self.p99),
            cpu: m(&self.cpu),
            rate_ratio: median(&self.rate_ratio),
            p99_ratio: median(&self.p99_ratio),
            cpu_ratio: median(&self.cpu_ratio),
        }
    }
}

/// Medians of a baseline at one concurrency: `[echo, retryd]`, and the
/// medians of the per-round ratios retryd/echo.
struct Summary {
    concurrency: usize,
    rate: [f64; 2],
    p50: [f64; 2],
    p99: [f64; 2],
    cpu: [f64; 2],
    rate_ratio: f64,
    p99_ratio: f64,
    cpu_ratio: f64,
}

impl Summary {
    fn json(&self) -> serde_json::Value {
        json!({
            "concurrency": self.concurrency,
            "echo": {
                "requests_per_second": self.rate[0].round(),
                "p50_us": self.p50[0],
                "p99_us": self.p99[0],
                "server_cpu_us_per_call": self.cpu[0],
            },
            "retryd": {
                "requests_per_second": self.rate[1].round(),
                "p50_us": self.p50[1],
                "p99_us": self.p99[1],
                "server_cpu_us_per_call": self.cpu[1],
            },
            "throughput_ratio": self.rate_ratio,
            "p99_ratio": self.p99_ratio,
            "server_cpu_ratio": self.cpu_ratio,
        })
    }

    fn text(&self, rounds: usize) -> String {
        format!(
            "c={:<3} echo {:>7.0} req/s p50 {:>4.0} µs CPU {:>5.1} µs/call | retryd {:>7.0} req/s p50 {:>4.0} µs CPU {:>5.1} µs/call | retryd/echo (median of {rounds}): throughput {:.3}, p99 {:.3}, server CPU/call {:.3}",
            self.concurrency,
            self.rate[0],
            self.p50[0],
            self.cpu[0],
            self.rate[1],
            self.p50[1],
            self.cpu[1],
            self.rate_ratio,
            self.p99_ratio,
            self.cpu_ratio
        )
    }
}
