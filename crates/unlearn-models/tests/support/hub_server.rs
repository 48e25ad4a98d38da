//! A Hugging Face Hub stand-in on 127.0.0.1 that `hf-hub` can download from, serving
//! several files (URL path → bytes). Shared by the model crate's tests and the `unlearn`
//! end-to-end tests (`#[path]`-included there).
//!
//! It answers `GET /<org>/<repo>/resolve/<revision>/<file>` with HTTP range support and the
//! headers the hub sends (`x-repo-commit`, `etag`, `content-range`), which is what the
//! `hf-hub` client needs; anything else is a 404. The commit it reports is the revision when
//! that is a 40-hex commit, else a fixed one. It stops (and its thread is joined) on drop.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The commit reported for branch revisions.
pub const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// The URL path at which the hub serves `file` of `repo` at `revision`.
pub fn resolve_path(repo: &str, revision: &str, file: &str) -> String {
    format!("/{repo}/resolve/{revision}/{file}")
}

/// A running local hub.
pub struct HubServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl HubServer {
    /// Serves `files` (URL path, as [`resolve_path`] makes it → bytes) until dropped.
    pub fn start(files: BTreeMap<String, Vec<u8>>) -> HubServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local address");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let Ok((stream, _)) = listener.accept() else {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                        continue;
                    };
                    requests.fetch_add(1, Ordering::SeqCst);
                    answer(stream, &files);
                }
            })
        };
        HubServer {
            addr,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`, the value for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many requests it has answered.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for HubServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn answer(stream: TcpStream, files: &BTreeMap<String, Vec<u8>>) {
    stream.set_nonblocking(false).expect("blocking stream");
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => {}
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = Some(v.trim().to_string());
        }
    }
    let mut stream = stream;
    let requested = request_line.split_whitespace().nth(1).unwrap_or("");
    let Some(body) = files.get(requested).filter(|b| !b.is_empty()) else {
        let _ = write!(
            stream,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    };
    let revision = requested.split('/').nth(4).unwrap_or("");
    let commit = if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        revision
    } else {
        COMMIT
    };
    let n = body.len();
    let (start, end) = match range.as_deref().and_then(|r| r.split_once('-')) {
        Some((a, b)) => {
            let a: usize = a.parse().unwrap_or(0).min(n - 1);
            let b: usize = if b.is_empty() {
                n - 1
            } else {
                b.parse().unwrap_or(n - 1).min(n - 1)
            };
            (a, b.max(a))
        }
        None => (0, n - 1),
    };
    let slice = &body[start..=end];
    // hf-hub names the cached blob after the ETag: a digest of the content (FNV-1a).
    let etag = body.iter().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100000001b3)
    });
    let etag = format!("{etag:016x}-{n}");
    let _ = write!(
        stream,
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{n}\r\nETag: \"{etag}\"\r\nx-repo-commit: {commit}\r\nConnection: close\r\n\r\n",
        slice.len()
    );
    let _ = stream.write_all(slice);
}
