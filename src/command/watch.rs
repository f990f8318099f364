//! `--watch-config`: reloads when the file's content changes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::server::reload::Reloader;
use notify::{RecursiveMode, Watcher};
use tokio_util::sync::CancellationToken;

/// Changes come in bursts (an editor's write, a ConfigMap's swap of
/// several links): the file is read once they settle.
const SETTLE: Duration = Duration::from_millis(300);

/// Watches the file's directory, not the file: a ConfigMap replaces the
/// file by swapping the `..data` link beside it, and an editor may
/// replace it by a rename; either way the directory sees it.
pub(super) fn spawn(
    path: PathBuf,
    reloader: Arc<Reloader>,
    stop: CancellationToken,
) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if e.is_ok() {
            let _ = tx.send(());
        }
    })
    .map_err(|e| e.to_string())?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut seen = content(&path);
    tracing::info!(path = %path.display(), "watching the configuration file");
    tokio::spawn(async move {
        // Owned by the task: watching ends with it.
        let _watcher = watcher;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = rx.recv() => if got.is_none() { return },
            }
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            let now = content(&path);
            if now == seen {
                continue;
            }
            seen = now;
            super::serve::reload(&reloader, "file changed").await;
        }
    });
    Ok(())
}

fn content(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}
