//! The writer thread: records from ingest and the API go through a bounded
//! channel to one thread that writes them in batches, one transaction per
//! batch (up to `batch_max` records or `flush_interval` after the first
//! one), so ingest never waits for the disk unless the store falls a whole
//! channel behind.

use super::{Record, Store};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Messages queued at most (each a few records).
const CHANNEL: usize = 16 * 1024;

enum Msg {
    Records(Vec<Record>),
    Flush(mpsc::Sender<()>),
}

/// What the writer has done, for `/metrics`.
#[derive(Debug, Default)]
pub struct WriterStats {
    /// Records written.
    pub written: AtomicU64,
    /// Transactions committed.
    pub batches: AtomicU64,
    /// Batches that failed (their records are lost, and logged).
    pub failed: AtomicU64,
    /// Records waiting.
    pub queued: AtomicU64,
}

/// The handle to the writer thread.
#[derive(Debug)]
pub struct Writer {
    tx: Mutex<Option<SyncSender<Msg>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Counters.
    pub stats: Arc<WriterStats>,
}

impl Writer {
    /// Starts the thread writing to `store`.
    pub fn spawn(store: Arc<dyn Store>, batch_max: usize, flush_interval: Duration) -> Self {
        let (tx, rx) = mpsc::sync_channel(CHANNEL);
        let stats = Arc::new(WriterStats::default());
        let s = stats.clone();
        let thread = std::thread::Builder::new()
            .name("twin-store".into())
            .spawn(move || run(&*store, &rx, batch_max.max(1), flush_interval, &s))
            .ok();
        Self {
            tx: Mutex::new(Some(tx)),
            thread: Mutex::new(thread),
            stats,
        }
    }

    fn sender(&self) -> Option<SyncSender<Msg>> {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Queues records (waits when the channel is full).
    pub fn send(&self, records: Vec<Record>) {
        if records.is_empty() {
            return;
        }
        let n = records.len() as u64;
        if let Some(tx) = self.sender() {
            self.stats.queued.fetch_add(n, Ordering::Relaxed);
            if tx.send(Msg::Records(records)).is_err() {
                self.stats.queued.fetch_sub(n, Ordering::Relaxed);
            }
        }
    }

    /// Waits until everything queued before is written (or `timeout`).
    pub fn flush(&self, timeout: Duration) -> bool {
        let (done, wait) = mpsc::channel();
        match self.sender() {
            Some(tx) if tx.send(Msg::Flush(done)).is_ok() => wait.recv_timeout(timeout).is_ok(),
            _ => false,
        }
    }

    /// Writes what is queued and stops the thread.
    pub fn close(&self) {
        self.tx.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn write(store: &dyn Store, batch: &mut Vec<Record>, stats: &WriterStats) {
    if batch.is_empty() {
        return;
    }
    let n = batch.len() as u64;
    match store.write(batch) {
        Ok(()) => {
            stats.written.fetch_add(n, Ordering::Relaxed);
            stats.batches.fetch_add(1, Ordering::Relaxed);
        }
        Err(e) => {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!("history batch of {n} records lost: {e}");
        }
    }
    stats.queued.fetch_sub(n, Ordering::Relaxed);
    batch.clear();
}

fn run(
    store: &dyn Store,
    rx: &Receiver<Msg>,
    batch_max: usize,
    every: Duration,
    stats: &WriterStats,
) {
    let mut batch: Vec<Record> = Vec::new();
    let mut waiting: Vec<mpsc::Sender<()>> = Vec::new();
    loop {
        // Block for the first message of a batch, then gather until the
        // batch is full or old enough.
        let first = match rx.recv() {
            Ok(m) => m,
            Err(_) => break,
        };
        let deadline = Instant::now() + every;
        let mut next = Some(first);
        let mut closed = false;
        loop {
            match next.take() {
                Some(Msg::Records(r)) => batch.extend(r),
                Some(Msg::Flush(done)) => {
                    waiting.push(done);
                    break;
                }
                None => {}
            }
            if batch.len() >= batch_max {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(m) => next = Some(m),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        write(store, &mut batch, stats);
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if closed {
            break;
        }
    }
    write(store, &mut batch, stats);
}
