//! Writes one parity case for the PyTorch replay (`scripts/parity/make_fixtures.py`):
//! `original.safetensors`, `data.safetensors`, `record.json`, `trace.jsonl` (with SalUn's
//! `trace.jsonl.mask.safetensors`) and `unlearned.safetensors` under `--out`.
//!
//! ```sh
//! cargo run --release -p unlearn-methods --example parity_case -- --arch small-cnn --method rl --out /tmp/parity/small-cnn/rl
//! ```

#[path = "../tests/support/parity_case.rs"]
mod case;

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut arch, mut method, mut out) = (None, None, None);
    let mut extra = Vec::new();
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--arch", Some(v)) => arch = Some(v),
            ("--method", Some(v)) => method = Some(v),
            ("--out", Some(v)) => out = Some(PathBuf::from(v)),
            ("--set", Some(v)) => extra.push(v),
            _ => {
                eprintln!(
                    "usage: parity_case --arch small-cnn|resnet18 --method {} --out DIR [--set key=value]...",
                    case::METHODS.join("|")
                );
                std::process::exit(2);
            }
        }
    }
    let (Some(arch), Some(method), Some(out)) = (arch, method, out) else {
        eprintln!("usage: parity_case --arch A --method M --out DIR");
        std::process::exit(2);
    };
    let arch: unlearn_models::Arch = match arch.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = std::fs::create_dir_all(&out) {
        eprintln!("{}: {e}", out.display());
        std::process::exit(1);
    }
    let c = case::run_case_with(arch, &method, &extra);
    case::save(&c.original, &out.join("original.safetensors"));
    case::save(&c.unlearned, &out.join("unlearned.safetensors"));
    let write = |name: &str, bytes: &[u8]| {
        if let Err(e) = std::fs::write(out.join(name), bytes) {
            eprintln!("{name}: {e}");
            std::process::exit(1);
        }
    };
    write("data.safetensors", &case::export_bytes(&c.ds, &c.images));
    write(
        "record.json",
        serde_json::to_string_pretty(&c.record)
            .unwrap_or_default()
            .as_bytes(),
    );
    write("trace.jsonl", c.trace.jsonl());
    for (suffix, bytes) in c.trace.files() {
        write(&format!("trace.jsonl.{suffix}"), bytes);
    }
    eprintln!(
        "{method} on {arch}: {} steps, trace {} bytes, written to {}",
        c.trace.steps(),
        c.trace.jsonl().len(),
        out.display()
    );
}
