//! An SQS queue in memory, for the actors' unit tests (no network): visibility timeouts on
//! tokio's clock (so a test on paused time sees a timeout expire without waiting), receive
//! counts, redelivery after expiry, long polls that wake on a send, delete and visibility
//! changes by receipt handle (a handle from an earlier delivery no longer changes visibility,
//! as in SQS), duplicates on demand (SQS delivers at least once), and injected failures.
//! One `MemoryQueue` is one queue: the URL a call names is not looked at.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Attributes, Backlog, KeepTrying, Queue, ReceiveRoom, Received, SqsError};

/// The calls, for injected failures and call counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Receive,
    Delete,
    ChangeVisibility,
    Backlog,
}

#[derive(Default)]
pub struct MemoryQueue {
    state: Mutex<State>,
    /// Woken by a send or a message made visible early: long polls look again.
    arrived: Notify,
}

#[derive(Default)]
struct State {
    next_id: u64,
    messages: Vec<Stored>,
    deleted: u64,
    /// Failures the next calls of a kind answer with, in order.
    failures: VecDeque<(Call, SqsError)>,
    /// Messages the next receive hands out a second time (an at-least-once duplicate).
    duplicates: usize,
    calls: Vec<Call>,
}

struct Stored {
    id: String,
    body: String,
    sent_unix_ms: i64,
    visible_at: Instant,
    receive_count: u32,
    /// Every handle issued for it; only the last one changes its visibility.
    receipts: Vec<String>,
}

impl MemoryQueue {
    pub fn new() -> MemoryQueue {
        MemoryQueue::default()
    }

    /// Sends a message; returns its id.
    pub fn send(&self, body: impl Into<String>) -> String {
        let mut s = self.state.lock().expect("queue lock");
        s.next_id += 1;
        let id = format!("m-{}", s.next_id);
        let sent_unix_ms = chrono::Utc::now().timestamp_millis();
        s.messages.push(Stored { id: id.clone(), body: body.into(), sent_unix_ms, visible_at: Instant::now(), receive_count: 0, receipts: Vec::new() });
        drop(s);
        self.arrived.notify_waiters();
        id
    }

    /// The next call of `call` fails with `error` (queued: several may be injected).
    pub fn fail_next(&self, call: Call, error: SqsError) {
        self.state.lock().expect("queue lock").failures.push_back((call, error));
    }

    /// The next receive hands out up to `n` of the messages it returns a second time, each
    /// with its own receipt handle.
    pub fn duplicate_next(&self, n: usize) {
        self.state.lock().expect("queue lock").duplicates = n;
    }

    /// Messages not deleted, visible or not.
    pub fn len(&self) -> usize {
        self.state.lock().expect("queue lock").messages.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Messages received and not yet visible again.
    pub fn in_flight(&self) -> usize {
        let now = Instant::now();
        self.state.lock().expect("queue lock").messages.iter().filter(|m| m.visible_at > now).count()
    }

    pub fn deleted(&self) -> u64 {
        self.state.lock().expect("queue lock").deleted
    }

    /// How many times the message was received (0: never, or deleted).
    pub fn receive_count(&self, id: &str) -> u32 {
        let s = self.state.lock().expect("queue lock");
        s.messages.iter().find(|m| m.id == id).map_or(0, |m| m.receive_count)
    }

    pub fn calls(&self, call: Call) -> usize {
        self.state.lock().expect("queue lock").calls.iter().filter(|c| **c == call).count()
    }

    /// Counts the call; its injected failure, if one is queued.
    fn enter(&self, call: Call) -> Result<std::sync::MutexGuard<'_, State>, SqsError> {
        let mut s = self.state.lock().expect("queue lock");
        s.calls.push(call);
        if let Some(i) = s.failures.iter().position(|(c, _)| *c == call) {
            let (_, e) = s.failures.remove(i).expect("position is in range");
            return Err(e);
        }
        Ok(s)
    }

    /// Takes up to `max` visible messages; or, when none is, the instant the next one will be.
    fn take(&self, max: usize, visibility: Duration) -> Result<Vec<Received>, Option<Instant>> {
        let mut s = self.state.lock().expect("queue lock");
        let now = Instant::now();
        let mut out = Vec::new();
        let mut duplicates = std::mem::take(&mut s.duplicates);
        for m in s.messages.iter_mut().filter(|m| m.visible_at <= now).take(max) {
            let copies = if duplicates > 0 { 2 } else { 1 };
            duplicates = duplicates.saturating_sub(1);
            for _ in 0..copies {
                m.receive_count += 1;
                let receipt = format!("{}#{}", m.id, m.receive_count);
                m.receipts.push(receipt.clone());
                m.visible_at = now + visibility;
                out.push(Received {
                    message_id: m.id.clone(),
                    receipt_handle: receipt,
                    body: m.body.clone(),
                    attributes: Attributes {
                        sent_timestamp: Some(m.sent_unix_ms.to_string()),
                        approximate_receive_count: Some(m.receive_count.to_string()),
                    },
                });
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        Err(s.messages.iter().map(|m| m.visible_at).min())
    }
}

impl Queue for MemoryQueue {
    fn receive<'a>(
        &'a self,
        _queue_url: &'a str,
        max: i32,
        wait_seconds: i32,
        visibility_secs: i32,
        _keep_trying: KeepTrying<'a>,
        room: &'a dyn ReceiveRoom,
    ) -> BoxFuture<'a, Result<Vec<Received>, SqsError>> {
        Box::pin(async move {
            drop(self.enter(Call::Receive)?);
            let deadline = Instant::now() + Duration::from_secs(wait_seconds.max(0) as u64);
            let visibility = Duration::from_secs(visibility_secs.max(0) as u64);
            loop {
                // Registered before looking, so a send between the look and the wait wakes it.
                let arrived = self.arrived.notified();
                let next = match self.take(max.max(1) as usize, visibility) {
                    Ok(messages) => {
                        // As the thin client: the answer's bytes are held before it is handed over.
                        room.hold(messages.iter().map(|m| (m.body.len() + m.receipt_handle.len() + m.message_id.len()) as u64).sum()).await;
                        return Ok(messages);
                    }
                    Err(next) => next,
                };
                if Instant::now() >= deadline {
                    return Ok(Vec::new());
                }
                let until = next.map_or(deadline, |n| n.min(deadline));
                tokio::select! {
                    _ = arrived => {}
                    _ = tokio::time::sleep_until(until) => {}
                }
            }
        })
    }

    fn delete_batch<'a>(&'a self, _queue_url: &'a str, receipts: &'a [String]) -> BoxFuture<'a, Result<usize, SqsError>> {
        Box::pin(async move {
            let mut s = self.enter(Call::Delete)?;
            let mut failed = 0;
            for r in receipts {
                match s.messages.iter().position(|m| m.receipts.contains(r)) {
                    Some(i) => {
                        s.messages.swap_remove(i);
                        s.deleted += 1;
                    }
                    // Deleted already (SQS accepts that) or never issued (SQS refuses).
                    None => failed += usize::from(!r.contains('#')),
                }
            }
            Ok(failed)
        })
    }

    fn change_visibility_batch<'a>(
        &'a self,
        _queue_url: &'a str,
        receipts: &'a [String],
        visibility_secs: i32,
    ) -> BoxFuture<'a, Result<usize, SqsError>> {
        Box::pin(async move {
            let mut s = self.enter(Call::ChangeVisibility)?;
            let now = Instant::now();
            let mut failed = 0;
            for r in receipts {
                match s.messages.iter_mut().find(|m| m.receipts.last() == Some(r) && m.visible_at > now) {
                    Some(m) => m.visible_at = now + Duration::from_secs(visibility_secs.max(0) as u64),
                    None => failed += 1,
                }
            }
            drop(s);
            if visibility_secs == 0 {
                self.arrived.notify_waiters();
            }
            Ok(failed)
        })
    }

    fn backlog<'a>(&'a self, _queue_url: &'a str) -> BoxFuture<'a, Result<Backlog, SqsError>> {
        Box::pin(async move {
            let s = self.enter(Call::Backlog)?;
            let now = Instant::now();
            let in_flight = s.messages.iter().filter(|m| m.visible_at > now).count() as i64;
            Ok(Backlog { visible: s.messages.len() as i64 - in_flight, in_flight })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "memory://q";

    async fn receive(q: &MemoryQueue, max: i32, wait: i32, visibility: i32) -> Vec<Received> {
        q.receive(URL, max, wait, visibility, &|| true, &crate::queue::Unbounded).await.unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn it_behaves_as_sqs_does() {
        let q = MemoryQueue::new();
        let a = q.send("a");
        q.send("b");
        let got = receive(&q, 10, 0, 30).await;
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].attributes.approximate_receive_count.as_deref(), Some("1"));
        assert!(receive(&q, 10, 0, 30).await.is_empty(), "invisible while in flight");
        assert_eq!(q.backlog(URL).await.unwrap(), Backlog { visible: 0, in_flight: 2 });

        // Redelivered after the visibility timeout, with a new handle; the old one no longer
        // changes visibility, but still deletes.
        tokio::time::advance(Duration::from_secs(31)).await;
        let again = receive(&q, 1, 0, 30).await;
        assert_eq!(again[0].message_id, a);
        assert_eq!(q.receive_count(&a), 2);
        assert_eq!(q.change_visibility_batch(URL, &[got[0].receipt_handle.clone()], 60).await.unwrap(), 1);
        assert_eq!(q.change_visibility_batch(URL, &[again[0].receipt_handle.clone()], 60).await.unwrap(), 0);
        assert_eq!(q.delete_batch(URL, &[got[0].receipt_handle.clone(), "bogus".into()]).await.unwrap(), 1);
        assert_eq!((q.len(), q.deleted()), (1, 1));

        let b = receive(&q, 10, 0, 30).await;
        assert_eq!(q.delete_batch(URL, &[b[0].receipt_handle.clone()]).await.unwrap(), 0);
        assert!(q.is_empty());

        // A long poll wakes on a send; an empty one ends at its wait.
        let started = Instant::now();
        let (got, _) = tokio::join!(receive(&q, 10, 20, 30), async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            q.send("c")
        });
        assert_eq!(got.len(), 1);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        let started = Instant::now();
        assert!(receive(&q, 10, 20, 30).await.is_empty());
        assert_eq!(started.elapsed(), Duration::from_secs(20));

        // Duplicates on demand, failures on demand.
        tokio::time::advance(Duration::from_secs(31)).await;
        q.duplicate_next(1);
        let dup = receive(&q, 1, 0, 30).await;
        assert_eq!(dup.len(), 2);
        assert_eq!(dup[0].message_id, dup[1].message_id);
        q.fail_next(Call::Delete, SqsError::Timeout("DeleteMessageBatch".into()));
        assert!(q.delete_batch(URL, &[dup[0].receipt_handle.clone()]).await.is_err());
        assert_eq!(q.delete_batch(URL, &[dup[0].receipt_handle.clone()]).await.unwrap(), 0);
        assert_eq!(q.calls(Call::Delete), 4);
    }
}
