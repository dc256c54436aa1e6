//! An HTTP stand-in between ams-hub's SQS client and moto that misbehaves on cue: it holds a
//! request and never answers (a black-holed connection), answers 500, throttles, claims the
//! client's clock is off, or answers 200 with garbage; every other request is passed to moto.
//! As an STS endpoint it can also enforce what moto does not: a role's `sts:ExternalId`
//! condition (AssumeRole with another external id is refused with AWS's AccessDenied).
//! It runs on its own thread and runtime, so blocking test code cannot stall it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Read the request, never answer, keep the connection open.
    Hang,
    /// 500 InternalError.
    Status500,
    /// 400 ThrottlingException.
    Throttle,
    /// 400 "Signature expired", with a `Date` this far ahead of ours.
    Skewed(Duration),
    /// 200 with a body that is not the call's answer.
    Garbage,
}

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `x-amz-target`, e.g. `AmazonSQS.ReceiveMessage`.
    pub target: String,
    pub amz_date: String,
    pub fault: Option<Fault>,
}

struct State {
    /// (target it applies to, fault), used in order.
    faults: VecDeque<(String, Fault)>,
    seen: Vec<Seen>,
    /// Role ARN → the external id its trust policy requires.
    external_ids: std::collections::HashMap<String, String>,
}

pub struct FaultyProxy {
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FaultyProxy {
    pub fn start(upstream: &str) -> FaultyProxy {
        let upstream = upstream.trim_start_matches("http://").trim_end_matches('/').to_owned();
        let state = Arc::new(Mutex::new(State { faults: VecDeque::new(), seen: Vec::new(), external_ids: Default::default() }));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(serve(client, upstream.clone(), shared.clone()));
                }
            });
        });
        FaultyProxy { url, state }
    }

    /// The next request for `target` (`ReceiveMessage`, …) gets `fault`.
    pub fn inject(&self, target: &str, fault: Fault) {
        self.state.lock().unwrap().faults.push_back((format!("AmazonSQS.{target}"), fault));
    }

    /// AssumeRole of `role_arn` succeeds only with `external_id` (as a trust policy's
    /// `sts:ExternalId` condition makes AWS do).
    pub fn require_external_id(&self, role_arn: &str, external_id: &str) {
        self.state.lock().unwrap().external_ids.insert(role_arn.to_owned(), external_id.to_owned());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Faults injected and not yet used.
    pub fn pending(&self) -> usize {
        self.state.lock().unwrap().faults.len()
    }
}

/// One client connection: requests one after another (keep-alive).
async fn serve(mut client: TcpStream, upstream: String, state: Arc<Mutex<State>>) {
    loop {
        let Some((head, body)) = read_message(&mut client).await else { return };
        let header = |name: &str| {
            head.lines()
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned()))
                .unwrap_or_default()
        };
        let target = header("x-amz-target");
        let fault = {
            let mut s = state.lock().unwrap();
            let at = s.faults.iter().position(|(t, _)| *t == target);
            let fault = at.and_then(|i| s.faults.remove(i)).map(|(_, f)| f);
            s.seen.push(Seen { target: target.clone(), amz_date: header("x-amz-date"), fault });
            fault
        };
        let refused = {
            let form = form_fields(&body);
            let s = state.lock().unwrap();
            (form.get("Action").map(String::as_str) == Some("AssumeRole"))
                .then(|| form.get("RoleArn").and_then(|r| s.external_ids.get(r).map(|e| (r.clone(), e.clone()))))
                .flatten()
                .filter(|(_, required)| form.get("ExternalId") != Some(required))
        };
        if let Some((role, _)) = refused {
            let body = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
                 <Code>AccessDenied</Code><Message>User is not authorized to perform: sts:AssumeRole on resource: {role}</Message>\
                 </Error><RequestId>0</RequestId></ErrorResponse>"
            );
            if client.write_all(&response(403, "text/xml", body.into_bytes(), None)).await.is_err() {
                return;
            }
            continue;
        }
        let answer = match fault {
            Some(Fault::Hang) => {
                // Hold the connection until the client gives up on it.
                let mut sink = [0u8; 1024];
                while matches!(client.read(&mut sink).await, Ok(n) if n > 0) {}
                return;
            }
            Some(Fault::Status500) => error(500, "InternalError", "injected failure", None),
            Some(Fault::Throttle) => error(400, "ThrottlingException", "Rate exceeded", None),
            Some(Fault::Skewed(ahead)) => {
                let server = SystemTime::now() + ahead;
                error(403, "InvalidSignatureException", "Signature expired: the request date is now earlier than the server's", Some(server))
            }
            Some(Fault::Garbage) => response(200, "text/html", b"<html>captive portal</html>".to_vec(), None),
            None => match forward(&upstream, &head, &body).await {
                Some(r) => r,
                None => return,
            },
        };
        if client.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// The fields of a form-encoded body (STS's query protocol).
fn form_fields(body: &[u8]) -> std::collections::HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
                    match hex {
                        Some(v) => {
                            out.push(v);
                            i += 2;
                        }
                        None => out.push(b'%'),
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn error(status: u16, code: &str, message: &str, date: Option<SystemTime>) -> Vec<u8> {
    let body = serde_json::json!({"__type": format!("com.amazonaws.sqs#{code}"), "message": message}).to_string();
    response(status, "application/x-amz-json-1.0", body.into_bytes(), date)
}

fn response(status: u16, content_type: &str, body: Vec<u8>, date: Option<SystemTime>) -> Vec<u8> {
    let date = httpdate::fmt_http_date(date.unwrap_or_else(SystemTime::now));
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nDate: {date}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend(body);
    out
}

/// Sends the request to moto on a fresh connection; its whole response.
async fn forward(upstream: &str, head: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await.ok()?;
    up.write_all(head.as_bytes()).await.ok()?;
    up.write_all(body).await.ok()?;
    let (head, body) = read_message(&mut up).await?;
    let mut out = head.into_bytes();
    out.extend(body);
    Some(out)
}

/// One HTTP/1.1 message with a `Content-Length` body (or none): its head (with the blank
/// line) and body. None at EOF or on an error.
async fn read_message(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(120), stream.read(&mut chunk)).await.ok()?.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim().parse().ok()))
        .flatten()
        .unwrap_or(0);
    let mut body = buf[end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}
