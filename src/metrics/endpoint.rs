//! The exposition: gauges set from the state when scraped, and the
//! `/metrics` endpoint with its upkeep task.

use super::*;

impl Metrics {
    /// The exposition text, with the gauges (and the budget counters, kept
    /// by the state) set from `gauges` first; `None` leaves them as they were
    /// last set (the state could not be read).
    pub fn render(&self, gauges: Option<&Gauges>) -> String {
        self.shed_counter.absolute(self.shed.load(Relaxed));
        if let Some(g) = gauges {
            self.set_gauges(g);
        }
        self.handle.render()
    }

    fn set_gauges(&self, g: &Gauges) {
        for (gauge, (_, n)) in self.jobs.iter().zip(g.jobs) {
            gauge.set(n as f64);
        }
        for b in &g.budgets {
            let target = || vec![label("target", &b.target)];
            self.budget_tokens
                .get(b.target_id, || {
                    self.recorder
                        .register_gauge(&Key::from_parts(BUDGET_TOKENS, target()), &META)
                })
                .set(b.tokens);
        }
        for b in &g.breakers {
            self.breaker_gauge(b.target_id, &b.target)
                .set(breaker_value(b.state));
        }
        self.set_queue_gauges(&g.queues, g.parked_bytes, unix_now());
    }

    /// Drains histogram buffers between scrapes so they cannot grow unbounded.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// What a scrape reads the state's gauges with: handed in by the server;
/// `None` when they could not be read (they keep their last values).
pub type ReadGauges =
    Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, Option<Gauges>> + Send + Sync>;

#[derive(Clone)]
struct Scrape {
    metrics: Arc<Metrics>,
    gauges: ReadGauges,
}

/// Serves `GET /metrics` on `listener` until `shutdown`.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    gauges: ReadGauges,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    async fn scrape(
        Extract(s): Extract<Scrape>,
    ) -> ([(axum::http::HeaderName, &'static str); 1], String) {
        let gauges = (s.gauges)().await;
        (
            [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            s.metrics.render(gauges.as_ref()),
        )
    }
    let upkeep = {
        let metrics = metrics.clone();
        let shutdown = shutdown.clone();
        async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => metrics.upkeep(),
                }
            }
        }
    };
    tokio::spawn(upkeep);
    let app = Router::new()
        .route("/metrics", get(scrape))
        .with_state(Scrape { metrics, gauges });
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// Where the metrics endpoint listens, for logs.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{addr}/metrics")
}
