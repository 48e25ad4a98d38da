//! Fuzzing, on the stable toolchain, of every parser that reads user files (issue #14): IDX
//! folders (raw and gzip), CIFAR-10 and CIFAR-100 binary folders, `.npy` forget-index files,
//! feature bundles (`.safetensors` and `.npz`), checkpoints (`checkpoint::read` and
//! `checkpoint::load`), PyTorch `.pth` files (zip and legacy, through `checkpoint::read`),
//! split manifests, and a user's images (PNG, JPEG, BMP, WebP through an image folder) and
//! Hugging Face parquet shards.
//!
//! For each parser, the seeds in `tests/fuzz-corpus/<corpus>/` are mutated with seeded
//! random mutations (`fuzz_parsers/mutate.rs`: bit flips, interesting bytes and integers,
//! truncation, insertion and deletion of runs, and structure-aware rewrites of IDX
//! dimensions, gzip members, CIFAR labels, the `.npy` header and its length, ZIP fields and
//! entries, the safetensors header length and JSON header, JSON values), each mutant is
//! written to a work folder and parsed through the crate's public API. An execution fails
//! when the parser
//!
//! - panics (caught with `catch_unwind`),
//! - makes a single allocation larger than `max(64 MiB, 16 × input bytes)` (measured by the
//!   counting global allocator of `fuzz_parsers/alloc.rs`, per thread): no input may make a
//!   reader allocate far more than the file's real size, or
//! - hangs (its child process still runs a minute after the parser's time budget).
//!
//! Errors (`Err`) are the expected outcome for most mutants. A failing mutant is saved as
//! `target/fuzz-crashes/<parser>-<n>` (a file, or a folder for the folder readers) and the
//! test fails naming it. Each parser runs in a child process (this test binary, re-run with
//! `UNLEARN_FUZZ_CHILD`), so an abort (a refused allocation over the 2 GiB safety cap, a
//! stack overflow) or a hang is reported with its input too, instead of killing the run.
//!
//! Environment: `UNLEARN_FUZZ_SECONDS` (total budget, default 30, split evenly across the
//! parsers), `UNLEARN_FUZZ_SEED` (default 0; runs are deterministic up to where the time
//! budget stops them), `UNLEARN_FUZZ_PARSERS` (comma-separated names, or `all`; default:
//! every parser). `regenerate_corpus` (ignored) rewrites the corpus;
//! `replay` (ignored) parses `UNLEARN_FUZZ_REPLAY` with the parsers named in
//! `UNLEARN_FUZZ_PARSERS`. See `tests/fuzz-corpus/README.md`.

#[path = "fuzz_parsers/alloc.rs"]
mod alloc;
#[path = "fuzz_parsers/corpus.rs"]
mod corpus;
#[path = "fuzz_parsers/encode.rs"]
mod encode;
#[path = "fuzz_parsers/mutate.rs"]
mod mutate;
#[path = "fuzz_parsers/targets.rs"]
mod targets;

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mutate::Rng;
use targets::{Input, Target, TARGETS};

/// The allocation bound's floor: 64 MiB.
const FLOOR: usize = 64 << 20;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

thread_local! {
    /// Where the last panic on this thread happened (set by the child's panic hook).
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fuzz-corpus")
}

/// `target/` of this build: the test binary is `target/<profile>/deps/fuzz_parsers-…`. A
/// child runs from a copy elsewhere, so the parent passes it on in `UNLEARN_FUZZ_TARGET`.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("UNLEARN_FUZZ_TARGET") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v} is not valid")),
        _ => default,
    }
}

/// The parsers selected by `UNLEARN_FUZZ_PARSERS` (default: every parser marked `default_on`, all of them).
fn selected() -> Vec<&'static Target> {
    let spec = std::env::var("UNLEARN_FUZZ_PARSERS").unwrap_or_default();
    let spec = spec.trim();
    if spec.is_empty() {
        return TARGETS.iter().filter(|t| t.default_on).collect();
    }
    if spec == "all" {
        return TARGETS.iter().collect();
    }
    spec.split(',')
        .map(|name| {
            TARGETS
                .iter()
                .find(|t| t.name == name.trim())
                .unwrap_or_else(|| {
                    let names: Vec<&str> = TARGETS.iter().map(|t| t.name).collect();
                    panic!("unknown parser `{name}` in UNLEARN_FUZZ_PARSERS; known: {names:?}")
                })
        })
        .collect()
}

/// How one parse went.
enum Outcome {
    Ok,
    Err,
    /// Where, and the message.
    Panic(String, String),
    /// The largest single allocation, the bound it broke, and where it was requested.
    Alloc(usize, usize, String),
}

/// Parses `path` with `target`, catching panics and measuring the largest allocation
/// against the bound for an input of `input_bytes`. Returns it with the largest allocation.
fn run_once(target: &Target, path: &Path, input_bytes: usize) -> (Outcome, usize) {
    let limit = FLOOR.max(input_bytes.saturating_mul(16));
    PANIC_AT.with(|p| p.borrow_mut().take());
    let (result, largest, site) = alloc::measure(limit, || {
        catch_unwind(AssertUnwindSafe(|| (target.parse)(path)))
    });
    let outcome = match result {
        Err(payload) => {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            let at = PANIC_AT.with(|p| p.borrow_mut().take());
            Outcome::Panic(at.unwrap_or_else(|| "an unknown place".into()), text)
        }
        Ok(_) if largest > limit => Outcome::Alloc(
            largest,
            limit,
            site.unwrap_or_else(|| "an unknown frame".into()),
        ),
        Ok(Ok(())) => Outcome::Ok,
        Ok(Err(_)) => Outcome::Err,
    };
    (outcome, largest)
}

fn input_path(work: &Path, target: &Target) -> PathBuf {
    match target.input {
        Input::Dir => work.join("input"),
        Input::File(ext) => work.join(format!("input.{ext}")),
    }
}

/// Copies the input (a file, or a folder of files) to `target/fuzz-crashes/<parser>-<n>`.
fn save_crash(target: &Target, input: &Path) -> PathBuf {
    let dir = target_dir().join("fuzz-crashes");
    std::fs::create_dir_all(&dir).expect("create target/fuzz-crashes");
    let ext = match target.input {
        Input::Dir => String::new(),
        Input::File(ext) => format!(".{ext}"),
    };
    let dest = (0..)
        .map(|n| dir.join(format!("{}-{n}{ext}", target.name)))
        .find(|p| !p.exists())
        .expect("a free name");
    if input.is_dir() {
        std::fs::create_dir_all(&dest).expect("create crash folder");
        for e in std::fs::read_dir(input).expect("read input folder") {
            let p = e.expect("entry").path();
            std::fs::copy(&p, dest.join(p.file_name().unwrap())).expect("copy crash file");
        }
    } else {
        std::fs::copy(input, &dest).expect("copy crash file");
    }
    dest
}

/// Counts of one parser's run.
#[derive(Default)]
struct Stats {
    execs: u64,
    ok: u64,
    err: u64,
    /// One line per distinct failure (saved input and reason).
    crashes: Vec<String>,
    /// Failure signatures seen (where it happened), to save each kind once.
    seen: BTreeSet<String>,
    /// Failing executions whose signature was already seen.
    repeats: u64,
    largest_alloc: usize,
}

/// Records an outcome; on a new kind of failure saves the input and prints a `FUZZ-CRASH`
/// line.
fn record(stats: &mut Stats, target: &Target, input: &Path, out: (Outcome, usize)) {
    stats.execs += 1;
    stats.largest_alloc = stats.largest_alloc.max(out.1);
    let (signature, reason) = match out.0 {
        Outcome::Ok => return stats.ok += 1,
        Outcome::Err => return stats.err += 1,
        Outcome::Panic(at, msg) => (format!("panic {at}"), format!("panic at {at}: {msg}")),
        Outcome::Alloc(got, limit, site) => (
            format!("alloc {site}"),
            format!("a single allocation of {got} bytes (bound {limit}) in {site}"),
        ),
    };
    if !stats.seen.insert(signature) {
        stats.repeats += 1;
        return;
    }
    let saved = save_crash(target, input);
    let line = format!("{} -> {}", saved.display(), reason.replace('\n', " "));
    println!("\nFUZZ-CRASH {line}");
    stats.crashes.push(line);
}

/// Distinct failures after which a parser's run stops.
const MAX_CRASHES: usize = 3;
/// For folder readers, one execution in this many removes a file instead of mutating it.
const REMOVE_ONE_IN: u64 = 50;

/// Mutates and parses for `secs` seconds, in the work folder `work`.
fn fuzz_loop(target: &Target, secs: f64, seed: u64, work: &Path) -> Stats {
    let seeds = targets::seeds(&corpus_root(), target);
    let input = input_path(work, target);
    let total: usize = seeds.iter().map(|(_, b)| b.len()).sum();
    if target.input == Input::Dir {
        std::fs::create_dir_all(&input).expect("create input folder");
        for (name, bytes) in &seeds {
            std::fs::write(input.join(name), bytes).expect("write seed");
        }
    }
    let name_hash = target.name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let mut rng = Rng::new(seed ^ name_hash);
    let mut stats = Stats::default();
    let start = Instant::now();
    let budget = Duration::from_secs_f64(secs);
    let mut round = 0usize;
    while stats.crashes.len() < MAX_CRASHES && (round < seeds.len() || start.elapsed() < budget) {
        // The first round parses every seed unchanged.
        let i = if round < seeds.len() {
            round
        } else {
            rng.below(seeds.len())
        };
        let (name, bytes) = &seeds[i];
        let mutant = if round < seeds.len() {
            Some(bytes.clone())
        } else if target.input == Input::Dir && rng.one_in(REMOVE_ONE_IN) {
            None
        } else {
            Some(mutate::mutate(&mut rng, targets::kind_of(name), bytes))
        };
        round += 1;
        let (file, others) = match target.input {
            Input::Dir => (input.join(name), total - bytes.len()),
            Input::File(_) => (input.clone(), 0),
        };
        let size = match &mutant {
            Some(m) => {
                std::fs::write(&file, m).expect("write mutant");
                others + m.len()
            }
            None => {
                std::fs::remove_file(&file).expect("remove seed");
                others
            }
        };
        let out = run_once(target, &input, size);
        record(&mut stats, target, &input, out);
        if target.input == Input::Dir {
            std::fs::write(&file, bytes).expect("restore seed");
        }
    }
    stats
}

/// Records where each panic happened (for the crash report), then prints it as usual.
fn install_panic_hook() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let site = alloc::culprit(&std::backtrace::Backtrace::force_capture());
        let line = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        let at = format!("{site} ({})", line.unwrap_or_default());
        let _ = PANIC_AT.try_with(|p| *p.borrow_mut() = Some(at));
        default_hook(info);
    }));
}

/// Child mode: fuzz one parser in this process and print its statistics line.
fn child(name: &str) {
    let target = TARGETS
        .iter()
        .find(|t| t.name == name)
        .expect("known parser");
    let secs: f64 = env_or("UNLEARN_FUZZ_CHILD_SECONDS", 1.0);
    let seed: u64 = env_or("UNLEARN_FUZZ_SEED", 0);
    let work = PathBuf::from(std::env::var("UNLEARN_FUZZ_WORKDIR").expect("work folder"));
    install_panic_hook();
    let start = Instant::now();
    // A main thread's stack, as the `unlearn` binary parses on.
    let stats = std::thread::Builder::new()
        .stack_size(8 << 20)
        .spawn(move || fuzz_loop(target, secs, seed, &work))
        .expect("spawn fuzz thread")
        .join()
        .expect("fuzz thread");
    // On a line of its own: libtest has already printed `test fuzz_parsers ... `.
    println!(
        "\nFUZZ-STATS {} {} {:.1} {} {} {} {} {}",
        name,
        stats.execs,
        start.elapsed().as_secs_f64(),
        stats.ok,
        stats.err,
        stats.crashes.len(),
        stats.largest_alloc,
        stats.repeats
    );
    assert!(stats.crashes.is_empty(), "{name}: {:#?}", stats.crashes);
}

/// A hard link (or copy) of this test binary in a temporary folder of `target/`, for the
/// children: a rebuild during a long run replaces the original, and its path then fails.
fn pinned_binary() -> (tempfile::TempDir, PathBuf) {
    let exe = std::env::current_exe().expect("test binary");
    let dir = tempfile::Builder::new()
        .prefix("fuzz-bin-")
        .tempdir_in(target_dir())
        .expect("temporary folder in target/");
    let pinned = dir.path().join("fuzz_parsers");
    if std::fs::hard_link(&exe, &pinned).is_err() {
        std::fs::copy(&exe, &pinned).expect("copy the test binary");
    }
    (dir, pinned)
}

/// One child's report, as the parent reads it.
struct Report {
    name: &'static str,
    line: Option<String>,
    crashes: Vec<String>,
}

/// Runs one parser in a child process and collects its report; an abnormal end (abort,
/// hang) is turned into a crash with the in-flight input saved.
fn run_child(exe: &Path, target: &'static Target, secs: f64) -> Report {
    let work = tempfile::tempdir().expect("work folder");
    let (out_path, err_path) = (work.path().join("stdout"), work.path().join("stderr"));
    let file = |p: &Path| Stdio::from(std::fs::File::create(p).expect("log file"));
    let mut proc = Command::new(exe)
        .args(["fuzz_parsers", "--exact", "--nocapture", "--test-threads=1"])
        .env("UNLEARN_FUZZ_CHILD", target.name)
        .env("UNLEARN_FUZZ_CHILD_SECONDS", secs.to_string())
        .env("UNLEARN_FUZZ_WORKDIR", work.path())
        .env("RUST_BACKTRACE", "0")
        .env("UNLEARN_FUZZ_TARGET", target_dir())
        .stdout(file(&out_path))
        .stderr(file(&err_path))
        .spawn()
        .expect("spawn the fuzz child");
    let start = Instant::now();
    // The child stops starting parses when its budget is spent, so running a minute past
    // it means one parse hangs.
    let grace = Duration::from_secs_f64(secs + 60.0);
    let (status, hung) = loop {
        if let Some(s) = proc.try_wait().expect("wait for child") {
            break (Some(s), false);
        }
        if start.elapsed() > grace {
            let _ = proc.kill();
            let _ = proc.wait();
            break (None, true);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("FUZZ-STATS ").map(|(_, rest)| rest))
        .map(str::to_string);
    let mut crashes: Vec<String> = stdout
        .lines()
        .filter_map(|l| l.split_once("FUZZ-CRASH ").map(|(_, rest)| rest))
        .map(str::to_string)
        .collect();
    if line.is_none() {
        let input = input_path(work.path(), target);
        let saved = if input.exists() {
            save_crash(target, &input).display().to_string()
        } else {
            "(no input left)".into()
        };
        let marks = [
            "fuzz_parsers: refusing",
            "memory allocation",
            "overflowed its stack",
        ];
        let notable: Vec<&str> = stderr
            .lines()
            .filter(|l| marks.iter().any(|m| l.contains(m)))
            .collect();
        let tail: Vec<&str> = if notable.is_empty() {
            stderr.lines().rev().take(6).collect()
        } else {
            notable.into_iter().rev().take(3).collect()
        };
        let how = if hung {
            format!("a parse hung (the child ran {:.0} s)", grace.as_secs_f64())
        } else {
            format!("child ended abnormally ({status:?})")
        };
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        crashes.push(format!("{saved} -> {how}: {}", tail.join(" | ")));
    }
    Report {
        name: target.name,
        line,
        crashes,
    }
}

fn print_reports(reports: &[Report], seed: u64, total: f64) {
    println!("fuzz_parsers: seed {seed}, budget {total} s in all");
    let row = |cells: [&str; 8]| {
        println!(
            "{:<22} {:>9} {:>7} {:>9} {:>9} {:>7} {:>8} {:>14}",
            cells[0], cells[1], cells[2], cells[3], cells[4], cells[5], cells[6], cells[7]
        )
    };
    row([
        "parser",
        "execs",
        "secs",
        "ok",
        "err",
        "crashes",
        "repeats",
        "largest alloc",
    ]);
    for r in reports {
        let f: Vec<&str> = r.line.as_deref().unwrap_or("").split(' ').collect();
        let get = |i: usize| f.get(i).copied().unwrap_or("-");
        let crashes = r.crashes.len().to_string();
        row([
            r.name,
            get(1),
            get(2),
            get(3),
            get(4),
            &crashes,
            get(7),
            get(6),
        ]);
    }
}

#[test]
fn fuzz_parsers() {
    if let Ok(name) = std::env::var("UNLEARN_FUZZ_CHILD") {
        return child(&name);
    }
    let total: f64 = env_or("UNLEARN_FUZZ_SECONDS", 30.0);
    let seed: u64 = env_or("UNLEARN_FUZZ_SEED", 0);
    let chosen = selected();
    let per = total / chosen.len().max(1) as f64;
    let (_keep, exe) = pinned_binary();
    let reports: Vec<Report> = chosen
        .into_iter()
        .map(|t| run_child(&exe, t, per))
        .collect();
    print_reports(&reports, seed, total);
    let crashes: Vec<String> = reports
        .iter()
        .flat_map(|r| r.crashes.iter().map(move |c| format!("{}: {c}", r.name)))
        .collect();
    assert!(
        crashes.is_empty(),
        "fuzzing found {} failing inputs (seed {seed}):\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}

/// Whether `target` treats `input` as `seed_ok` says (Ok for valid seeds, Err for `bad-*`),
/// without a panic and within the allocation bound; the problem otherwise.
fn check_seed(target: &Target, input: &Path, bytes: usize, want_ok: bool) -> Option<String> {
    let fine = match run_once(target, input, bytes).0 {
        Outcome::Ok => want_ok,
        Outcome::Err => !want_ok,
        Outcome::Panic(at, msg) => return Some(format!("panic at {at}: {msg}")),
        Outcome::Alloc(got, limit, site) => {
            return Some(format!("allocated {got} > {limit} bytes in {site}"))
        }
    };
    (!fine).then(|| format!("expected ok = {want_ok}, got {:?}", (target.parse)(input)))
}

/// Every unmutated seed parses (or, for `bad-*` seeds, fails) without a panic and within the
/// allocation bound, so the corpus stays valid as the parsers change.
#[test]
fn seed_corpus_parses() {
    let mut problems = Vec::new();
    for target in &TARGETS {
        let work = tempfile::tempdir().expect("work folder");
        let input = input_path(work.path(), target);
        let seeds = targets::seeds(&corpus_root(), target);
        if target.input == Input::Dir {
            std::fs::create_dir_all(&input).expect("input folder");
            for (name, bytes) in &seeds {
                std::fs::write(input.join(name), bytes).expect("write seed");
            }
            let total = seeds.iter().map(|(_, b)| b.len()).sum();
            if let Some(p) = check_seed(target, &input, total, true) {
                problems.push(format!("{} on its folder: {p}", target.name));
            }
            continue;
        }
        for (name, bytes) in &seeds {
            std::fs::write(&input, bytes).expect("write seed");
            if let Some(p) = check_seed(target, &input, bytes.len(), (target.seed_ok)(name)) {
                problems.push(format!("{} on {name}: {p}", target.name));
            }
        }
    }
    assert!(problems.is_empty(), "seed corpus: {problems:#?}");
}

/// Rewrites `tests/fuzz-corpus/` from fixed seeds: `cargo test --release -p unlearn-cli
/// --test fuzz_parsers -- --ignored regenerate_corpus`.
#[test]
#[ignore = "rewrites the committed corpus"]
fn regenerate_corpus() {
    corpus::generate(&corpus_root());
}

/// Parses `UNLEARN_FUZZ_REPLAY` (a crash file or folder) with each parser named in
/// `UNLEARN_FUZZ_PARSERS` and prints the outcome.
#[test]
#[ignore = "needs UNLEARN_FUZZ_REPLAY"]
fn replay() {
    let path = PathBuf::from(std::env::var("UNLEARN_FUZZ_REPLAY").expect("UNLEARN_FUZZ_REPLAY"));
    let size = match std::fs::read_dir(&path) {
        Ok(entries) => entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len() as usize)
            .sum(),
        Err(_) => std::fs::metadata(&path).map_or(0, |m| m.len() as usize),
    };
    install_panic_hook();
    for target in selected() {
        let (outcome, largest) = run_once(target, &path, size);
        let what = match outcome {
            Outcome::Ok | Outcome::Err => format!("{:?}", (target.parse)(&path)),
            Outcome::Panic(at, msg) => format!("PANIC at {at}: {msg}"),
            Outcome::Alloc(got, limit, site) => {
                format!("ALLOCATION of {got} bytes over the bound {limit} in {site}")
            }
        };
        println!(
            "{}: {what}; largest single allocation {largest} bytes",
            target.name
        );
    }
}
