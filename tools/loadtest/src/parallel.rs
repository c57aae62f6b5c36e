//! Doing many set-up or check calls with a fixed number in flight, with
//! progress on stderr.

use crate::client::Client;
use anyhow::{Context, Result, anyhow};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One kind of call, made for indexes `0..count`.
pub trait Job: Send + Sync + 'static {
    /// What one call yields.
    type Output: Send + 'static;

    /// Makes the call for `index` with the worker's `client`.
    fn run(
        &self,
        client: &mut Client,
        index: usize,
    ) -> impl Future<Output = Result<Self::Output>> + Send;
}

/// Runs `job` for every index in `0..count` with `concurrency` workers, each
/// with its own kept-alive connections; returns the outputs in index order,
/// or the first error (the other workers then stop). `label` names the
/// phase in progress lines.
pub async fn run_parallel<J: Job>(
    label: &str,
    job: Arc<J>,
    count: usize,
    concurrency: usize,
    timeout: Duration,
) -> Result<Vec<J::Output>> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency.clamp(1, count.max(1)) {
        let (job, next, done, failed) = (job.clone(), next.clone(), done.clone(), failed.clone());
        workers.spawn(async move {
            let mut client = Client::new(timeout);
            let mut outputs = Vec::new();
            while !failed.load(Ordering::Relaxed) {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    break;
                }
                match job.run(&mut client, index).await {
                    Ok(output) => outputs.push((index, output)),
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e.context(format!("item {index}")));
                    }
                }
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(outputs)
        });
    }
    let progress = {
        let (done, label) = (done.clone(), label.to_string());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(5));
            tick.tick().await;
            loop {
                tick.tick().await;
                let n = done.load(Ordering::Relaxed);
                let rate = n as f64 / started.elapsed().as_secs_f64();
                eprintln!("  {label}: {n}/{count} ({rate:.0}/s)");
            }
        })
    };
    let mut slots: Vec<Option<J::Output>> = (0..count).map(|_| None).collect();
    let mut first_error = None;
    while let Some(joined) = workers.join_next().await {
        match joined.context("a worker panicked")? {
            Ok(outputs) => {
                for (index, output) in outputs {
                    slots[index] = Some(output);
                }
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    progress.abort();
    if let Some(e) = first_error {
        return Err(e.context(format!("{label} failed")));
    }
    let elapsed = started.elapsed().as_secs_f64();
    eprintln!(
        "  {label}: {count} in {elapsed:.1} s ({:.0}/s)",
        count as f64 / elapsed.max(1e-9)
    );
    slots
        .into_iter()
        .enumerate()
        .map(|(i, slot)| slot.ok_or_else(|| anyhow!("{label}: item {i} was not done")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Square;

    impl Job for Square {
        type Output = usize;
        async fn run(&self, _client: &mut Client, index: usize) -> Result<usize> {
            tokio::task::yield_now().await;
            anyhow::ensure!(index != 13, "unlucky");
            Ok(index * index)
        }
    }

    #[tokio::test]
    async fn outputs_come_back_in_index_order() {
        let out = run_parallel("squares", Arc::new(Square), 10, 3, Duration::from_secs(1))
            .await
            .unwrap();
        assert_eq!(out, (0..10).map(|i| i * i).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn the_first_error_fails_the_whole_run() {
        let err = run_parallel("squares", Arc::new(Square), 20, 4, Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("unlucky"), "{err:#}");
    }

    #[tokio::test]
    async fn nothing_to_do_is_done_at_once() {
        let out = run_parallel("none", Arc::new(Square), 0, 4, Duration::from_secs(1))
            .await
            .unwrap();
        assert!(out.is_empty());
    }
}
