//! The pipeline's plumbing: stages on plain threads joined by bounded channels, each edge declaring what
//! happens when the consumer falls behind, each stage counting what it did and how long it took.
//!
//! Live video may shed frames (`DropOldest`, counted), but from detection on every edge blocks: an event
//! is never dropped. Shutdown needs no signal: when a stage's input closes, it flushes, closes its output,
//! and the stages after it drain in turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvError, SendError, Sender, TrySendError, bounded};
use serde::Serialize;

/// What an edge does when it is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Backpressure {
    /// The producer waits: lossless.
    Block,
    /// The oldest queued item is dropped (and counted) to make room: live video must not lag.
    DropOldest,
}

/// Counters of one edge.
#[derive(Debug)]
pub struct EdgeMetrics {
    sent: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    consumer_alive: AtomicBool,
}

/// A snapshot of an edge, for /metrics and the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EdgeSnapshot {
    pub name: String,
    pub policy: Backpressure,
    pub capacity: usize,
    pub depth: usize,
    pub sent: u64,
    pub dropped: u64,
}

/// The sending end of an edge.
#[derive(Debug)]
pub struct EdgeSender<T> {
    tx: Sender<T>,
    /// Kept only by drop-oldest edges, to evict from the consumer's side.
    evict: Option<Receiver<T>>,
    metrics: Arc<EdgeMetrics>,
}

impl<T> Clone for EdgeSender<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            evict: self.evict.clone(),
            metrics: Arc::clone(&self.metrics),
        }
    }
}

/// The receiving end of an edge. Dropping it tells the producers the consumer is gone.
#[derive(Debug)]
pub struct EdgeReceiver<T> {
    rx: Receiver<T>,
    metrics: Arc<EdgeMetrics>,
}

impl<T> EdgeReceiver<T> {
    pub fn recv(&self) -> Result<T, RecvError> {
        let item = self.rx.recv()?;
        self.metrics.received.fetch_add(1, Ordering::Relaxed);
        Ok(item)
    }

    /// Takes what is queued now, without waiting.
    pub fn drain_now(&self) -> Vec<T> {
        let items: Vec<T> = self.rx.try_iter().collect();
        self.metrics
            .received
            .fetch_add(items.len() as u64, Ordering::Relaxed);
        items
    }

    /// Items until every sender is gone.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || self.recv().ok())
    }
}

impl<T> Drop for EdgeReceiver<T> {
    fn drop(&mut self) {
        self.metrics.consumer_alive.store(false, Ordering::Relaxed);
    }
}

/// Reads an edge's counters while the pipeline runs (it holds no end of the channel).
#[derive(Debug, Clone)]
pub struct EdgeProbe {
    name: String,
    policy: Backpressure,
    capacity: usize,
    metrics: Arc<EdgeMetrics>,
}

impl EdgeProbe {
    pub fn snapshot(&self) -> EdgeSnapshot {
        let sent = self.metrics.sent.load(Ordering::Relaxed);
        let dropped = self.metrics.dropped.load(Ordering::Relaxed);
        let received = self.metrics.received.load(Ordering::Relaxed);
        EdgeSnapshot {
            name: self.name.clone(),
            policy: self.policy,
            capacity: self.capacity,
            depth: sent.saturating_sub(dropped).saturating_sub(received) as usize,
            sent,
            dropped,
        }
    }
}

/// Creates a bounded edge with a declared back-pressure policy.
pub fn edge<T>(
    name: &str,
    capacity: usize,
    policy: Backpressure,
) -> (EdgeSender<T>, EdgeReceiver<T>, EdgeProbe) {
    let capacity = capacity.max(1);
    let (tx, rx) = bounded(capacity);
    let metrics = Arc::new(EdgeMetrics {
        sent: AtomicU64::new(0),
        dropped: AtomicU64::new(0),
        received: AtomicU64::new(0),
        consumer_alive: AtomicBool::new(true),
    });
    let evict = (policy == Backpressure::DropOldest).then(|| rx.clone());
    let probe = EdgeProbe {
        name: name.to_string(),
        policy,
        capacity,
        metrics: Arc::clone(&metrics),
    };
    (
        EdgeSender {
            tx,
            evict,
            metrics: Arc::clone(&metrics),
        },
        EdgeReceiver { rx, metrics },
        probe,
    )
}

impl<T> EdgeSender<T> {
    /// Sends by the edge's policy. Errs only when the consumer is gone.
    pub fn send(&self, item: T) -> Result<(), SendError<T>> {
        let Some(evict) = &self.evict else {
            self.tx.send(item)?;
            self.metrics.sent.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        if !self.metrics.consumer_alive.load(Ordering::Relaxed) {
            return Err(SendError(item));
        }
        let mut item = item;
        loop {
            match self.tx.try_send(item) {
                Ok(()) => {
                    self.metrics.sent.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(TrySendError::Disconnected(back)) => return Err(SendError(back)),
                Err(TrySendError::Full(back)) => {
                    if evict.try_recv().is_ok() {
                        self.metrics.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                    item = back;
                }
            }
        }
    }
}

/// A stateful stream-to-stream step: zero or more outputs per input, and a flush when the input ends.
pub trait Stage<I, O>: Send {
    fn process(&mut self, item: I, emit: &mut dyn FnMut(O));
    fn finish(&mut self, _emit: &mut dyn FnMut(O)) {}
}

/// Counters of one stage.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StageStats {
    pub processed: u64,
    pub emitted: u64,
    pub busy_nanos: u64,
    pub max_latency_nanos: u64,
}

/// Live counters of a running stage.
#[derive(Debug, Default)]
pub struct StageCounters {
    processed: AtomicU64,
    emitted: AtomicU64,
    busy_nanos: AtomicU64,
    max_latency_nanos: AtomicU64,
}

impl StageCounters {
    pub fn snapshot(&self) -> StageStats {
        StageStats {
            processed: self.processed.load(Ordering::Relaxed),
            emitted: self.emitted.load(Ordering::Relaxed),
            busy_nanos: self.busy_nanos.load(Ordering::Relaxed),
            max_latency_nanos: self.max_latency_nanos.load(Ordering::Relaxed),
        }
    }
}

/// A running stage.
#[derive(Debug)]
pub struct StageHandle {
    pub name: String,
    pub counters: Arc<StageCounters>,
    thread: JoinHandle<()>,
}

impl StageHandle {
    /// Waits until the stage has drained its input and flushed; returns its final counters.
    pub fn join(self) -> StageStats {
        let _ = self.thread.join();
        self.counters.snapshot()
    }
}

/// Runs `stage` on its own thread from `input` to `output` until the input closes.
pub fn spawn_stage<I, O, S>(
    name: &str,
    mut stage: S,
    input: EdgeReceiver<I>,
    output: EdgeSender<O>,
) -> std::io::Result<StageHandle>
where
    I: Send + 'static,
    O: Send + 'static,
    S: Stage<I, O> + 'static,
{
    let counters = Arc::new(StageCounters::default());
    let shared = Arc::clone(&counters);
    let thread = thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            let mut open = true;
            let mut emit = |item: O| {
                if open && output.send(item).is_err() {
                    open = false;
                }
                shared.emitted.fetch_add(1, Ordering::Relaxed);
            };
            for item in input.iter() {
                let started = Instant::now();
                stage.process(item, &mut emit);
                let nanos = started.elapsed().as_nanos() as u64;
                shared.processed.fetch_add(1, Ordering::Relaxed);
                shared.busy_nanos.fetch_add(nanos, Ordering::Relaxed);
                shared.max_latency_nanos.fetch_max(nanos, Ordering::Relaxed);
            }
            stage.finish(&mut emit);
        })?;
    Ok(StageHandle {
        name: name.to_string(),
        counters,
        thread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Doubler;
    impl Stage<u32, u32> for Doubler {
        fn process(&mut self, item: u32, emit: &mut dyn FnMut(u32)) {
            emit(item * 2);
        }
    }

    /// Sums everything and emits the total only when its input ends: proves `finish` runs on shutdown.
    struct Summer(u64);
    impl Stage<u32, u64> for Summer {
        fn process(&mut self, item: u32, _emit: &mut dyn FnMut(u64)) {
            self.0 += u64::from(item);
        }
        fn finish(&mut self, emit: &mut dyn FnMut(u64)) {
            emit(self.0);
        }
    }

    #[test]
    fn blocking_edges_lose_nothing_and_shutdown_drains_every_stage() {
        let (a_tx, a_rx, a_probe) = edge::<u32>("source->double", 2, Backpressure::Block);
        let (b_tx, b_rx, _) = edge::<u32>("double->sum", 2, Backpressure::Block);
        let (c_tx, c_rx, _) = edge::<u64>("sum->sink", 1, Backpressure::Block);
        let double = spawn_stage("double", Doubler, a_rx, b_tx).unwrap();
        let sum = spawn_stage("sum", Summer(0), b_rx, c_tx).unwrap();
        for i in 1..=1000 {
            a_tx.send(i).unwrap();
        }
        drop(a_tx);
        assert_eq!(c_rx.recv().unwrap(), 2 * 500_500);
        assert!(
            c_rx.recv().is_err(),
            "the sink's input closed after the flush"
        );
        assert_eq!(double.join().processed, 1000);
        assert_eq!(sum.join().processed, 1000);
        let snapshot = a_probe.snapshot();
        assert_eq!(
            (snapshot.sent, snapshot.dropped, snapshot.depth),
            (1000, 0, 0)
        );
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts_the_rest() {
        let (tx, rx, probe) = edge::<u32>("camera->detect", 3, Backpressure::DropOldest);
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        let kept: Vec<u32> = rx.drain_now();
        assert_eq!(kept, vec![7, 8, 9]);
        let snapshot = probe.snapshot();
        assert_eq!(
            (
                snapshot.sent,
                snapshot.dropped,
                snapshot.capacity,
                snapshot.depth
            ),
            (10, 7, 3, 0)
        );
    }

    #[test]
    fn a_vanished_consumer_is_an_error_not_a_hang() {
        for policy in [Backpressure::Block, Backpressure::DropOldest] {
            let (tx, rx, probe) = edge::<u32>("x", 1, policy);
            drop(rx);
            assert!(tx.send(1).is_err(), "{policy:?}");
            assert_eq!(probe.snapshot().sent, 0);
        }
    }
}
