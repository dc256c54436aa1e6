//! A webhook receiver on loopback for the end-to-end tests: it records every request (headers,
//! body, when it arrived) and answers each with the next status of a script (then 204). Plain
//! HTTP/1.1 over `std::net`, one connection at a time, nothing else.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Header names in lower case.
    pub headers: HashMap<String, String>,
    pub body: String,
    pub at: SystemTime,
    /// The status it was answered with.
    pub status: u16,
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    script: VecDeque<u16>,
}

pub struct Receiver {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some((path, headers, body)) = read_request(&mut stream) else { continue };
                let status = {
                    let mut s = shared.lock().unwrap();
                    let status = s.script.pop_front().unwrap_or(204);
                    s.received.push(Received { path, headers, body, at: SystemTime::now(), status });
                    status
                };
                let _ = write!(stream, "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            }
        });
        Receiver { port, state }
    }

    /// The next requests are answered with these statuses, in order.
    pub fn answer_next(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().unwrap().received.clone()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<(String, HashMap<String, String>, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let path = line.split_whitespace().nth(1)?.to_owned();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
    }
    let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some((path, headers, String::from_utf8_lossy(&body).into_owned()))
}

/// What Standard Webhooks' own library (Python `standardwebhooks`, in the tests' venv) says of
/// a message: "verified", or "refused …" with its reason.
pub fn standard_webhooks_verdict(secret: &str, body: &str, id: &str, timestamp: &str, signature: &str) -> String {
    const SCRIPT: &str = r#"
import sys
from standardwebhooks.webhooks import Webhook
secret, body, id, ts, sig = sys.argv[1:6]
headers = {"webhook-id": id, "webhook-timestamp": ts, "webhook-signature": sig}
try:
    Webhook(secret).verify(body, headers)
    print("verified")
except Exception as e:
    print("refused", e)
"#;
    let out = std::process::Command::new(crate::aws::venv_python())
        .args(["-c", SCRIPT, secret, body, id, timestamp, signature])
        .output()
        .expect("the venv's python (scripts/test installs standardwebhooks)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Received {
    /// [`standard_webhooks_verdict`] on this request as it arrived.
    pub fn verdict(&self, secret: &str) -> String {
        let h = |k: &str| self.headers.get(k).cloned().unwrap_or_default();
        standard_webhooks_verdict(secret, &self.body, &h("webhook-id"), &h("webhook-timestamp"), &h("webhook-signature"))
    }
}
