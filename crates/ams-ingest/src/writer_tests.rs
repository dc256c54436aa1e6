//! The tenant writer on paused tokio time with a stand-in ledger (no database): batching by
//! rows and by time, retry with backoff, refused units answered as quarantined, and giving up
//! at shutdown. The ledger's own isolation (splitting a batch Postgres refuses) runs against
//! Postgres in tests/ledger.rs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::time::Duration;

use actix::prelude::*;
use ams_model::{decode_body, Body, DatasetId};
use ams_store::{Isolated, LedgerBatch, Origin, Provenance, StoreError, TenantSchema, TenantSlug, WriteSummary};
use futures_util::future::LocalBoxFuture;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Ledger, TenantWriter};
use crate::pipeline::{Append, Committed, Decoded, NotCommitted};
use crate::shutdown::ShutdownSignal;
use crate::RuntimeConfig;

enum Outcome {
    Commit,
    Fail,
    Refuse(Vec<usize>),
}

/// Each write: when, how many rows and units.
#[derive(Debug, Clone, Copy)]
struct Write {
    at: Instant,
    rows: usize,
    units: usize,
}

#[derive(Default)]
struct Fake {
    /// What the next writes answer; commit once it runs out (or always fail).
    script: RefCell<VecDeque<Outcome>>,
    always_fail: bool,
    writes: RefCell<Vec<Write>>,
}

impl Ledger for Fake {
    fn write<'a>(&'a self, _: &'a TenantSchema, batch: &'a LedgerBatch) -> LocalBoxFuture<'a, Result<Isolated, StoreError>> {
        self.writes.borrow_mut().push(Write { at: Instant::now(), rows: batch.records(), units: batch.units() });
        let outcome = if self.always_fail { Outcome::Fail } else { self.script.borrow_mut().pop_front().unwrap_or(Outcome::Commit) };
        Box::pin(async move {
            match outcome {
                Outcome::Commit => Ok(Isolated { summary: WriteSummary::default(), refused: Vec::new() }),
                Outcome::Refuse(units) => Ok(Isolated { summary: WriteSummary::default(), refused: units }),
                Outcome::Fail => Err(StoreError::Database(sqlx::Error::PoolTimedOut)),
            }
        })
    }
}

fn message(i: usize) -> Decoded {
    let body = include_str!("../../../fixtures/ams/sp-traffic.json").to_owned();
    let Ok(Body::Records(records)) = decode_body(&body) else { panic!("the fixture decodes") };
    let origin = Origin { body, source: "memory://q".into(), message_id: Some(format!("m-{i}")), provenance: Provenance::now(None) };
    Decoded::Records { origin, records }
}

type Answer = oneshot::Receiver<Result<Committed, NotCommitted>>;

fn start(fake: Rc<Fake>, config: RuntimeConfig, shutdown: ShutdownSignal) -> Addr<TenantWriter> {
    let schema = TenantSchema::of(&TenantSlug::parse("acme").unwrap());
    TenantWriter::with_ledger(fake, schema, config, shutdown).start()
}

fn append(writer: &Addr<TenantWriter>, messages: std::ops::Range<usize>) -> Answer {
    let (ack, answer) = oneshot::channel();
    writer.do_send(Append { messages: messages.map(message).collect(), kept: Vec::new(), ack });
    answer
}

/// `d` is `ms` milliseconds, give or take tokio's timer tick (a sleep ends on the next
/// millisecond).
fn about(d: Duration, ms: u64) -> bool {
    d >= Duration::from_millis(ms) && d <= Duration::from_millis(ms + 1)
}

fn config(batch_rows: usize, batch_ms: u64) -> RuntimeConfig {
    RuntimeConfig { batch_rows, batch_ms, ..RuntimeConfig::default() }
}

#[actix::test]
async fn a_batch_is_written_when_it_holds_batch_rows_rows_without_waiting() {
    tokio::time::pause();
    let fake = Rc::new(Fake::default());
    let writer = start(fake.clone(), config(10, 1_000), ShutdownSignal::default());
    let t0 = Instant::now();
    let answers: Vec<Answer> = (0..3).map(|i| append(&writer, i * 4..i * 4 + 4)).collect();
    for a in answers {
        let done = a.await.unwrap().unwrap();
        assert_eq!(done.records[DatasetId::SpTraffic.index()], 4);
    }
    let writes = fake.writes.borrow().clone();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!((writes[0].rows, writes[0].units), (12, 12));
    assert_eq!(writes[0].at, t0, "full: written at once, not after batch_ms");
}

#[actix::test]
async fn a_batch_below_batch_rows_is_written_after_batch_ms() {
    tokio::time::pause();
    let fake = Rc::new(Fake::default());
    let writer = start(fake.clone(), config(5_000, 50), ShutdownSignal::default());
    let t0 = Instant::now();
    append(&writer, 0..3).await.unwrap().unwrap();
    let writes = fake.writes.borrow().clone();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].rows, 3);
    assert!(about(writes[0].at - t0, 50), "{:?}", writes[0].at - t0);
}

#[actix::test]
async fn a_failed_write_is_retried_with_doubling_backoff_and_answered_once() {
    tokio::time::pause();
    let fake = Rc::new(Fake { script: RefCell::new([Outcome::Fail, Outcome::Fail, Outcome::Fail].into()), ..Fake::default() });
    let writer = start(fake.clone(), config(5_000, 50), ShutdownSignal::default());
    let done = append(&writer, 0..2).await.unwrap().unwrap();
    assert_eq!(done.records[DatasetId::SpTraffic.index()], 2);
    let gaps: Vec<Duration> = fake.writes.borrow().windows(2).map(|w| w[1].at - w[0].at).collect();
    // Doubling, each plus up to as much again (jitter).
    assert!(
        gaps.len() == 3 && gaps.iter().zip([100, 200, 400]).all(|(g, ms)| *g + Duration::from_millis(2) >= Duration::from_millis(ms) && *g <= Duration::from_millis(2 * ms + 2)),
        "backoff between the four attempts: {gaps:?}"
    );
    assert!(fake.writes.borrow().iter().all(|w| w.rows == 2), "the same batch each time");
}

#[actix::test]
async fn units_the_database_refused_are_answered_as_quarantined() {
    tokio::time::pause();
    let fake = Rc::new(Fake { script: RefCell::new([Outcome::Refuse(vec![1, 3])].into()), ..Fake::default() });
    let writer = start(fake.clone(), config(6, 1_000), ShutdownSignal::default());
    let (first, second) = (append(&writer, 0..3), append(&writer, 3..6));
    let (first, second) = (first.await.unwrap().unwrap(), second.await.unwrap().unwrap());
    // Unit 1 is the first Append's second message, unit 3 the second's first.
    for done in [&first, &second] {
        assert_eq!((done.quarantined, done.records[DatasetId::SpTraffic.index()]), (1, 2));
    }
}

#[actix::test]
async fn at_shutdown_a_write_still_failing_is_given_up_and_answered_with_an_error() {
    tokio::time::pause();
    let fake = Rc::new(Fake { always_fail: true, ..Fake::default() });
    let shutdown = ShutdownSignal::default();
    let writer = start(fake.clone(), config(5_000, 50), shutdown.clone());
    let answer = append(&writer, 0..2);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(fake.writes.borrow().len() > 10, "retried for as long as the runtime runs");
    let t0 = Instant::now();
    shutdown.begin();
    let e = answer.await.unwrap().expect_err("given up");
    assert!(matches!(e, NotCommitted::GivenUp(_)), "{e}");
    let waited = t0.elapsed();
    assert!(waited >= crate::shutdown::GIVE_UP_WRITES_AFTER && waited <= crate::shutdown::GIVE_UP_WRITES_AFTER + Duration::from_secs(5), "{waited:?}");
}
