//! Graceful shutdown drains: every call the server took gets its answer.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_the_server_took_is_answered_before_it_stops() {
    let h = Harness::builtin().await;
    let app = h.running.app.clone();
    let done = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::new();
    for t in 0..16 {
        let mut c = h.client.clone();
        let done = done.clone();
        callers.push(tokio::spawn(async move {
            let mut answered = Vec::new();
            let mut unanswered = Vec::new();
            for i in 0.. {
                let id = format!("drain-{t}-{i}");
                match c
                    .report_failure(failure(&id, error("Timeout", "", 0, 0)))
                    .await
                {
                    Ok(_) => {
                        answered.push(id);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(_) => {
                        unanswered.push(id);
                        break;
                    }
                }
            }
            (answered, unanswered)
        }));
    }
    while done.load(Ordering::Relaxed) < 500 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Stop while the callers are mid-flight.
    tokio::time::timeout(Duration::from_secs(20), h.running.stop())
        .await
        .expect("stops within the grace period")
        .expect("stops cleanly");

    let mut answered = HashSet::new();
    let mut unanswered = Vec::new();
    for caller in callers {
        let (a, u) = caller.await.expect("caller");
        answered.extend(a);
        unanswered.extend(u);
    }
    assert_eq!(
        unanswered.len(),
        16,
        "each caller ends with one refused call"
    );
    // Every job the server recorded belongs to a call that got its answer...
    assert_eq!(held(&app), answered.len());
    for id in &answered {
        assert!(holds(&app, id).await, "{id} answered but not recorded");
    }
    // ...and no refused call was half-done.
    for id in &unanswered {
        assert!(
            !holds(&app, id).await,
            "{id} recorded but its caller got an error"
        );
    }
}
