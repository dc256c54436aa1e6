//! TenantWriter: one actor per tenant. It gathers the records of many messages (from any of
//! the tenant's queues) into one `LedgerBatch` and commits it when it holds `batch_rows` rows
//! or its oldest message has waited `batch_ms`; then it answers every message's ack. One
//! transaction at a time per tenant; the next batch fills meanwhile.
//!
//! A failed write (Postgres down, connections cut) is retried with backoff for as long as the
//! runtime runs: the consumers keep the messages invisible meanwhile and stop receiving at
//! their in-flight limit, so an outage costs latency, never data. At shutdown a batch that
//! still cannot be written is answered with an error: its messages are not deleted and SQS
//! delivers them again later.

use std::ops::Range;
use std::time::Duration;

use std::rc::Rc;

use actix::prelude::*;
use ams_store::{Isolated, LedgerBatch, LedgerWriter, Store, StoreError, TenantSchema};
use futures_util::future::LocalBoxFuture;
use crate::events::{InternalEvent, LedgerWriteFailed};
use crate::pipeline::{Append, Committed, Decoded, IngestAck, NotCommitted};
use crate::RuntimeConfig;

/// Bodies a batch holds before it is written whatever its row count: writing copies them (into
/// the statement, the server's buffers), so a batch of 256 KiB bodies must not grow to
/// `batch_rows` of them. Normal traffic (a few KiB per message) never reaches it.
const BATCH_BYTES: usize = 8 << 20;

/// Where a writer's batches go: the ledger in Postgres, or a test's stand-in.
pub trait Ledger {
    /// Writes the batch, isolating and quarantining the units Postgres refuses for their data
    /// (`LedgerWriter::write_isolating`); `Err` only for errors worth retrying.
    fn write<'a>(&'a self, schema: &'a TenantSchema, batch: &'a LedgerBatch) -> LocalBoxFuture<'a, Result<Isolated, StoreError>>;
}

impl Ledger for LedgerWriter {
    fn write<'a>(&'a self, schema: &'a TenantSchema, batch: &'a LedgerBatch) -> LocalBoxFuture<'a, Result<Isolated, StoreError>> {
        Box::pin(self.write_isolating(schema, batch))
    }
}

pub struct TenantWriter {
    schema: TenantSchema,
    writer: Rc<dyn Ledger>,
    config: RuntimeConfig,
    pending: LedgerBatch,
    /// Bytes of the message bodies in `pending`.
    pending_bytes: usize,
    /// Per Append: what it holds, its ack, and its units in `pending`.
    acks: Vec<(Committed, IngestAck, Range<usize>)>,
    timer: Option<SpawnHandle>,
    flushing: bool,
    shutdown: crate::shutdown::ShutdownSignal,
    metrics: Rc<crate::metrics::WriterMetrics>,
}

impl TenantWriter {
    pub fn new(store: &Store, schema: TenantSchema, config: RuntimeConfig, shutdown: crate::shutdown::ShutdownSignal) -> Self {
        Self::with_ledger(Rc::new(LedgerWriter::new(store)), schema, config, shutdown)
    }

    pub fn with_ledger(
        writer: Rc<dyn Ledger>,
        schema: TenantSchema,
        config: RuntimeConfig,
        shutdown: crate::shutdown::ShutdownSignal,
    ) -> Self {
        let metrics = Rc::new(crate::metrics::metrics().writer(schema.slug().as_str()));
        TenantWriter {
            schema,
            metrics,
            writer,
            config,
            pending: LedgerBatch::new(),
            pending_bytes: 0,
            acks: Vec::new(),
            timer: None,
            flushing: false,
            shutdown,
        }
    }

    fn size(&self) -> usize {
        self.pending.records() + self.pending.quarantine_len()
    }

    /// Full: `batch_rows` rows, or [`BATCH_BYTES`] of bodies.
    fn full(&self) -> bool {
        self.size() >= self.config.batch_rows || self.pending_bytes >= BATCH_BYTES
    }

    fn flush(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.timer.take() {
            ctx.cancel_future(t);
        }
        if self.flushing || self.acks.is_empty() {
            return;
        }
        self.flushing = true;
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let acks = std::mem::take(&mut self.acks);
        let (writer, schema, stop) = (self.writer.clone(), self.schema.clone(), self.shutdown.clone());
        let metrics = self.metrics.clone();
        let write = async move {
            let mut delays = crate::retry::doubling(Duration::from_millis(100), Duration::from_secs(5));
            let started = std::time::Instant::now();
            loop {
                match writer.write(&schema, &batch).await {
                    Ok(isolated) => {
                        let summary = &isolated.summary;
                        metrics.committed(summary, batch.records() + batch.quarantine_len(), started.elapsed());
                        tracing::debug!(schema = %schema, records = batch.records(), new = summary.inserted(),
                            refused = isolated.refused.len(), ms = started.elapsed().as_millis() as u64, "batch committed");
                        // Messages whose rows Postgres refused are committed as quarantined.
                        let refused: Vec<(usize, Vec<(ams_model::DatasetId, usize)>)> = isolated
                            .refused
                            .iter()
                            .map(|&u| (u, batch.unit_records(u).collect()))
                            .collect();
                        return Ok(refused);
                    }
                    Err(e) if !stop.writes_given_up() => {
                        let delay = delays.next().unwrap_or(Duration::from_secs(5));
                        LedgerWriteFailed { schema: schema.name(), error: &e, retry_in: delay, metrics: &metrics }.emit();
                        tokio::time::sleep(delay).await;
                    }
                    Err(e) => return Err(NotCommitted::GivenUp(e.to_string())),
                }
            }
        };
        ctx.spawn(write.into_actor(self).map(move |result, act, ctx| {
            for (mut done, ack, units) in acks {
                let answer = match &result {
                    Ok(refused) => {
                        for (_, records) in refused.iter().filter(|(u, _)| units.contains(u)) {
                            for (dataset, n) in records {
                                done.records[dataset.index()] -= *n as u32;
                            }
                            done.quarantined += 1;
                        }
                        Ok(done)
                    }
                    Err(e) => Err(e.clone()),
                };
                let _ = ack.send(answer);
            }
            act.flushing = false;
            if act.full() {
                act.flush(ctx);
            } else if !act.acks.is_empty() {
                act.schedule(ctx);
            }
        }));
    }

    fn schedule(&mut self, ctx: &mut Context<Self>) {
        if self.timer.is_none() {
            let wait = Duration::from_millis(self.config.batch_ms);
            self.timer = Some(ctx.run_later(wait, |act, ctx| {
                act.timer = None;
                act.flush(ctx);
            }));
        }
    }
}

impl Actor for TenantWriter {
    type Context = Context<Self>;
}

impl Handler<Append> for TenantWriter {
    type Result = ();

    fn handle(&mut self, msg: Append, ctx: &mut Context<Self>) {
        let mut done = Committed { kept: msg.kept, ..Committed::default() };
        let first = self.pending.units();
        for m in msg.messages {
            match &m {
                Decoded::Records { origin, records } => {
                    self.pending_bytes += origin.body.len();
                    for r in records {
                        done.records[r.dataset().index()] += 1;
                        done.truncated += u32::from(r.payload_truncated());
                    }
                }
                Decoded::Quarantined(entry) => {
                    self.pending_bytes += entry.body.len();
                    done.quarantined += 1;
                }
            }
            m.push_into(&mut self.pending);
        }
        self.acks.push((done, msg.ack, first..self.pending.units()));
        if self.full() {
            self.flush(ctx);
        } else {
            self.schedule(ctx);
        }
    }
}

#[cfg(test)]
#[path = "writer_tests.rs"]
mod actor_tests;
