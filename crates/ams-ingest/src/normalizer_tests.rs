//! The normalizer on paused tokio time with stand-ins for SNS and Postgres (the
//! [`Subscriptions`] seam) and for the writer (an actor that records each Append and answers
//! it): Amazon's confirmation relayed to SNS, a foreign one refused without a call, one SNS
//! refuses kept alone for redelivery and quarantined once the attempts run out.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

use actix::prelude::*;
use ams_model::{QuarantineReason, SubscriptionConfirmation};
use ams_store::control::registry::{ConfirmationRecord, ConfirmationStatus};
use ams_store::{TenantSchema, TenantSlug};
use futures_util::future::LocalBoxFuture;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{Normalizer, Subscriptions, Writers, CONFIRM_ATTEMPTS};
use crate::pipeline::{Append, Committed, Decoded, Ingest, NotCommitted, QueueContext, SqsMessage};

const AMAZON: &str = include_str!("../../../fixtures/ams/subscription-confirmation.json");
const RECORDS: &str = include_str!("../../../fixtures/ams/sp-traffic.json");

/// SNS answers from a script (confirmed when it runs out); every call and record is kept.
#[derive(Default)]
struct FakeSubscriptions {
    answers: RefCell<VecDeque<Result<(), String>>>,
    /// (region, topic) of every ConfirmSubscription.
    confirmed: RefCell<Vec<(String, String)>>,
    /// (message id, status, queue ARN) of every record.
    records: RefCell<Vec<(String, ConfirmationStatus, Option<String>)>>,
}

impl Subscriptions for FakeSubscriptions {
    fn confirm<'a>(&'a self, _: &'a QueueContext, region: &'a str, c: &'a SubscriptionConfirmation) -> LocalBoxFuture<'a, Result<(), String>> {
        self.confirmed.borrow_mut().push((region.to_owned(), c.topic_arn.clone()));
        let answer = self.answers.borrow_mut().pop_front().unwrap_or(Ok(()));
        Box::pin(async move {
            // SNS takes a while: the actor must not block other ingests meanwhile.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            answer
        })
    }

    fn record<'a>(&'a self, r: ConfirmationRecord<'a>, queue_arn: Option<String>) -> LocalBoxFuture<'a, ()> {
        self.records.borrow_mut().push((r.message_id.to_owned(), r.status, queue_arn));
        Box::pin(async {})
    }
}

/// What the writer was given: per Append, each message as `records` or a quarantine reason,
/// and the kept positions.
#[derive(Debug, Default, Clone, PartialEq)]
struct Appended {
    messages: Vec<String>,
    kept: Vec<usize>,
}

struct FakeWriter(Rc<RefCell<Vec<Appended>>>);

impl Actor for FakeWriter {
    type Context = Context<Self>;
}

impl Handler<Append> for FakeWriter {
    type Result = ();
    fn handle(&mut self, msg: Append, _: &mut Context<Self>) {
        let messages = msg
            .messages
            .iter()
            .map(|m| match m {
                Decoded::Records { .. } => "records".to_owned(),
                Decoded::Quarantined(e) => e.reason_code.as_str().to_owned(),
            })
            .collect();
        self.0.borrow_mut().push(Appended { messages, kept: msg.kept.iter().map(|(i, _)| *i).collect() });
        let _ = msg.ack.send(Ok(Committed { kept: msg.kept, ..Committed::default() }));
    }
}

struct Harness {
    normalizer: Addr<Normalizer>,
    subscriptions: Rc<FakeSubscriptions>,
    appended: Rc<RefCell<Vec<Appended>>>,
    queue: Arc<QueueContext>,
}

impl Harness {
    fn start() -> Harness {
        let subscriptions = Rc::new(FakeSubscriptions::default());
        let appended = Rc::new(RefCell::new(Vec::new()));
        let sink = appended.clone();
        let writers: Writers = Box::new(move |_: &TenantSchema| FakeWriter(sink.clone()).start().recipient());
        let normalizer = Normalizer::with_seams(subscriptions.clone(), writers).start();
        let queue = Arc::new(QueueContext {
            queue_id: ams_store::QueueId(Uuid::new_v4()),
            queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/ams".into(),
            region: "us-east-1".into(),
            account_id: ams_store::AccountId(Uuid::new_v4()),
            schema: TenantSchema::of(&TenantSlug::parse("acme").unwrap()),
            aws: crate::AccountAws::offline(),
        });
        Harness { normalizer, subscriptions, appended, queue }
    }

    /// Ingests `bodies` (each `(body, receive count)`) and waits for the ack.
    async fn ingest(&self, bodies: &[(&str, u32)]) -> Result<Committed, NotCommitted> {
        let messages = bodies
            .iter()
            .enumerate()
            .map(|(i, (body, n))| SqsMessage { message_id: format!("m-{i}"), body: (*body).to_owned(), receive_count: *n })
            .collect();
        let (ack, answer) = oneshot::channel();
        self.normalizer.do_send(Ingest { queue: self.queue.clone(), messages, ack, memory: None });
        answer.await.expect("the writer answers")
    }
}

fn foreign() -> String {
    AMAZON.replace("906013806264", "123456789012")
}

#[actix::test]
async fn amazons_confirmation_is_relayed_to_sns_and_committed_with_its_receive() {
    tokio::time::pause();
    let h = Harness::start();
    let done = h.ingest(&[(RECORDS, 1), (AMAZON, 1), (RECORDS, 1)]).await.unwrap();
    assert!(done.kept.is_empty());
    let topic = serde_json::from_str::<serde_json::Value>(AMAZON).unwrap()["TopicArn"].as_str().unwrap().to_owned();
    assert_eq!(*h.subscriptions.confirmed.borrow(), [("us-east-1".to_owned(), topic)]);
    let records = h.subscriptions.records.borrow().clone();
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].0.as_str(), records[0].1), ("m-1", ConfirmationStatus::Confirmed));
    assert_eq!(records[0].2.as_deref(), Some("arn:aws:sqs:us-east-1:123456789012:ams"), "the stream subscription to mark");
    assert_eq!(*h.appended.borrow(), [Appended { messages: vec!["records".into(), "records".into()], kept: vec![] }]);
}

#[actix::test]
async fn a_foreign_confirmation_is_quarantined_without_calling_sns() {
    tokio::time::pause();
    let h = Harness::start();
    let done = h.ingest(&[(&foreign(), 1)]).await.unwrap();
    assert!(done.kept.is_empty());
    assert!(h.subscriptions.confirmed.borrow().is_empty(), "never confirmed");
    assert_eq!(h.subscriptions.records.borrow()[0].1, ConfirmationStatus::Refused);
    let code = QuarantineReason::RefusedConfirmation.as_str().to_owned();
    assert_eq!(*h.appended.borrow(), [Appended { messages: vec![code], kept: vec![] }]);
}

#[actix::test]
async fn a_confirmation_sns_refuses_is_kept_alone_then_quarantined_when_attempts_run_out() {
    tokio::time::pause();
    let h = Harness::start();
    h.subscriptions.answers.borrow_mut().extend([Err("AuthorizationError: no".to_owned()), Err("AuthorizationError: no".to_owned())]);
    // First delivery: the records around it are committed; only the confirmation is kept.
    let done = h.ingest(&[(RECORDS, 1), (AMAZON, 1), (RECORDS, 1)]).await.unwrap();
    assert_eq!(done.kept.iter().map(|(i, _)| *i).collect::<Vec<_>>(), [1]);
    assert!(matches!(&done.kept[0].1, NotCommitted::ConfirmationFailed(e) if e.contains("AuthorizationError")));
    assert_eq!(h.appended.borrow()[0], Appended { messages: vec!["records".into(), "records".into()], kept: vec![1] });
    assert_eq!(h.subscriptions.records.borrow()[0].1, ConfirmationStatus::ConfirmationFailed);
    // Its last allowed receive: SNS still refuses, and it is quarantined instead of kept.
    let done = h.ingest(&[(AMAZON, CONFIRM_ATTEMPTS)]).await.unwrap();
    assert!(done.kept.is_empty());
    let code = QuarantineReason::ConfirmationFailed.as_str().to_owned();
    assert_eq!(h.appended.borrow()[1], Appended { messages: vec![code], kept: vec![] });
    // And a later delivery SNS accepts is simply confirmed.
    let done = h.ingest(&[(AMAZON, 2)]).await.unwrap();
    assert!(done.kept.is_empty());
    assert_eq!(h.subscriptions.confirmed.borrow().len(), 3);
}

#[actix::test]
async fn a_slow_confirmation_does_not_hold_up_other_ingests() {
    tokio::time::pause();
    let h = Harness::start();
    let (ack, slow) = oneshot::channel();
    let m = SqsMessage { message_id: "c".into(), body: AMAZON.to_owned(), receive_count: 1 };
    h.normalizer.do_send(Ingest { queue: h.queue.clone(), messages: vec![m], ack, memory: None });
    // Records sent after it are answered while SNS is still being asked.
    let done = h.ingest(&[(RECORDS, 1)]).await.unwrap();
    assert!(done.kept.is_empty());
    assert_eq!(h.appended.borrow()[0].messages, ["records"]);
    assert!(slow.await.unwrap().unwrap().kept.is_empty());
}
