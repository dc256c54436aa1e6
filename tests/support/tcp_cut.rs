//! A TCP forwarder to Postgres that can be cut: while cut, every connection through it is
//! black-holed (bytes are read and dropped, nothing is answered) and new ones are accepted
//! and held the same way, as when a node loses its route to the database but not to SQS.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct TcpCut {
    pub port: u16,
    cut: Arc<AtomicBool>,
}

impl TcpCut {
    /// Forwards 127.0.0.1:`port` to `upstream` (host:port).
    pub fn start(upstream: &str) -> TcpCut {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let (flag, upstream) = (cut.clone(), upstream.to_owned());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(forward(client, upstream.clone(), flag.clone()));
                }
            });
        });
        TcpCut { port, cut }
    }

    pub fn cut(&self, on: bool) {
        self.cut.store(on, Ordering::SeqCst);
    }
}

async fn forward(client: TcpStream, upstream: String, cut: Arc<AtomicBool>) {
    let Ok(server) = TcpStream::connect(&upstream).await else { return };
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    tokio::join!(pipe(cr, sw, cut.clone()), pipe(sr, cw, cut));
}

/// Copies while not cut; while cut, reads and drops.
async fn pipe(mut from: tokio::net::tcp::OwnedReadHalf, mut to: tokio::net::tcp::OwnedWriteHalf, cut: Arc<AtomicBool>) {
    let mut buf = vec![0u8; 16384];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if cut.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
