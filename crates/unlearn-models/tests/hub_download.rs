//! Downloading a checkpoint through `hf-hub` from a hub served on 127.0.0.1.
//!
//! The server answers `GET /<org>/<repo>/resolve/<revision>/<file>` with HTTP range support
//! and the headers the hub sends (`x-repo-commit`, `etag`, `content-range`), which is what
//! the `hf-hub` client needs. Requests are bounded: the server stops after the test.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use candle_core::Device;
use unlearn_models::{checkpoint, hub, Arch, CheckpointMeta, Model, ModelSpec};

fn serve(listener: TcpListener, path: String, body: Vec<u8>, stop: Arc<AtomicBool>) {
    listener.set_nonblocking(true).unwrap();
    let commit = "89abcdef0123456789abcdef0123456789abcdef";
    let mut served = 0;
    while !stop.load(Ordering::SeqCst) && served < 50 {
        let Ok((stream, _)) = listener.accept() else {
            std::thread::sleep(std::time::Duration::from_millis(5));
            continue;
        };
        served += 1;
        stream.set_nonblocking(false).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request_line = String::new();
        reader.read_line(&mut request_line).unwrap();
        let mut range = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                range = Some(v.trim().to_string());
            }
        }
        let mut stream = stream;
        let requested = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        if requested != path {
            write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            continue;
        }
        let n = body.len();
        let (start, end) = match range.as_deref().and_then(|r| r.split_once('-')) {
            Some((a, b)) => {
                let a: usize = a.parse().unwrap_or(0);
                let b: usize = if b.is_empty() {
                    n - 1
                } else {
                    b.parse().unwrap_or(n - 1).min(n - 1)
                };
                (a, b)
            }
            None => (0, n - 1),
        };
        let slice = &body[start..=end];
        write!(
            stream,
            "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{n}\r\nETag: \"blob-etag-1\"\r\nx-repo-commit: {commit}\r\nConnection: close\r\n\r\n",
            slice.len()
        )
        .unwrap();
        stream.write_all(slice).unwrap();
    }
}

#[test]
fn downloads_into_the_cache_then_works_offline() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.safetensors");
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: [1, 28, 28],
        num_classes: 10,
    };
    let model = Model::new(&spec, &Device::Cpu, 5).unwrap();
    checkpoint::save(&model, &CheckpointMeta::for_model(&model), &src).unwrap();
    let body = std::fs::read(&src).unwrap();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let server = {
        let stop = stop.clone();
        let body = body.clone();
        std::thread::spawn(move || {
            serve(
                listener,
                "/unlearn/cnn/resolve/main/model.safetensors".into(),
                body,
                stop,
            )
        })
    };
    let cache = dir.path().join("hub-cache");
    std::env::set_var("HF_HUB_CACHE", &cache);
    std::env::set_var("HF_ENDPOINT", format!("http://{addr}"));
    std::env::remove_var("HF_HUB_OFFLINE");
    let path = hub::resolve_checkpoint("hf://unlearn/cnn/model.safetensors").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let (loaded, meta) = checkpoint::load(&path, &Device::Cpu).unwrap();
    assert_eq!(meta.arch, unlearn_models::Arch::SmallCnn);
    assert_eq!(loaded.spec(), &spec);
    // A file the server does not have is a download error naming it.
    let err = hub::resolve_checkpoint("hf://unlearn/cnn/missing.safetensors")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
    stop.store(true, Ordering::SeqCst);
    server.join().unwrap();

    // Now offline: the cached copy is found without the server.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
    let again = hub::resolve_checkpoint("hf://unlearn/cnn/model.safetensors").unwrap();
    assert_eq!(std::fs::read(again).unwrap(), body);
}
