//! The study on a real Slurm (issue #16): `scripts/slurm-local.sh` brings up a single-node
//! cluster on 127.0.0.1 (Debian's `slurmctld`, `slurmd`, `munge`), and
//! `unlearn reproduce --executor slurm --wait` runs the quick study as job arrays. Its
//! metrics must equal the local executor's (a pool of two workers) value for value. A
//! submission cancelled with `scancel` mid-run leaves a store that a second submission
//! finishes, with the same metrics.
//!
//! The test needs a service. When Slurm's programs (`sbatch`, `slurmctld`, `slurmd`,
//! `munged`) are not installed, or the tests are not built as root, `crates/unlearn-cli/build.rs`
//! leaves the `local_slurm` cfg unset and the test is reported as *ignored* with that reason,
//! never as passed. When they are installed, a cluster that fails to come up is a failure.
//! `.ci/run` installs the packages (`scripts/slurm-local.sh install`) before building.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{ok, p, stderr};

const STUDY: [&str; 7] = [
    "reproduce",
    "--methods",
    "ft,ga,muda",
    "--scenarios",
    "random:0.1",
    "--epochs",
    "1",
];

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-local.sh")
}

/// A running single-node cluster, stopped on drop.
struct Cluster {
    dir: PathBuf,
    conf: String,
}

impl Cluster {
    /// Brings one up in `dir`, or says why it cannot.
    fn up(dir: &Path) -> Result<Cluster, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("the local cluster's daemons run as root, and this is not root".into());
        }
        let o = Command::new("bash")
            .arg(script())
            .arg("up")
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script().display()))?;
        if !o.status.success() {
            return Err(format!(
                "scripts/slurm-local.sh up failed:\n{}",
                String::from_utf8_lossy(&o.stderr)
            ));
        }
        let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
        let conf = stdout
            .lines()
            .find_map(|l| l.strip_prefix("export SLURM_CONF="))
            .ok_or_else(|| format!("no SLURM_CONF in the script's output: {stdout}"))?
            .trim()
            .to_string();
        Ok(Cluster {
            dir: dir.to_path_buf(),
            conf,
        })
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("SLURM_CONF", &self.conf).env_remove("UNLEARN_DATA");
        c
    }

    fn unlearn(&self, args: &[&str]) -> Output {
        self.command(env!("CARGO_BIN_EXE_unlearn"))
            .args(args)
            .output()
            .expect("the binary runs")
    }

    /// The states of job `id`'s tasks still queued (`squeue`).
    fn states(&self, id: &str) -> String {
        let o = self
            .command("squeue")
            .args(["-h", "-o", "%T", "-j", id])
            .output()
            .expect("squeue runs");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .arg("down")
            .arg(&self.dir)
            .output();
    }
}

/// Each model's metrics in a finished study, by method.
fn metrics(store: &Path) -> BTreeMap<String, serde_json::Value> {
    std::fs::read_to_string(store.join("results.jsonl"))
        .expect("results.jsonl")
        .lines()
        .map(|l| {
            let r: serde_json::Value = serde_json::from_str(l).expect("json line");
            (
                r["method"].as_str().unwrap_or("").to_string(),
                r["metrics"].clone(),
            )
        })
        .collect()
}

fn study(extra: &[&str], store: &Path) -> Vec<String> {
    STUDY
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .chain(["--out".to_string(), p(store).to_string()])
        .collect()
}

#[test]
#[cfg_attr(
    not(local_slurm),
    ignore = "needs a local Slurm: sbatch, slurmctld, slurmd and munged installed and a build as root (scripts/slurm-local.sh install)"
)]
fn the_study_runs_as_slurm_job_arrays_and_resumes_after_scancel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::up(&dir.path().join("slurm")).unwrap_or_else(|why| {
        panic!("Slurm is installed but the local cluster did not come up: {why}")
    });
    let run = |args: Vec<String>| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        cluster.unlearn(&refs)
    };

    // The reference: the local executor, two workers.
    let local = dir.path().join("local");
    ok(run(study(
        &["--executor", "local", "--jobs", "2", "--quiet"],
        &local,
    )));
    let want = metrics(&local);
    assert_eq!(want.len(), 5, "{want:?}");

    // The same study as job arrays, waited for.
    let on_slurm = dir.path().join("slurm-study");
    let o = ok(run(study(&["--executor", "slurm", "--wait"], &on_slurm)));
    assert!(stderr(&o).contains("report written"), "{}", stderr(&o));
    assert_eq!(metrics(&on_slurm), want);
    let jobs = std::fs::read_to_string(on_slurm.join("slurm/jobs.json")).expect("jobs.json");
    assert!(jobs.contains("report"), "{jobs}");

    // Submitted and cancelled while the models train: nothing that counts is left behind,
    // and a second submission finishes the study with the same metrics.
    let cancelled = dir.path().join("cancelled");
    let o = ok(run(study(&["--executor", "slurm"], &cancelled)));
    let ids: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert!(ids.len() >= 3, "job ids: {ids:?}");
    let start = Instant::now();
    while !cluster.states(&ids[1]).contains("RUNNING") {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the training stage never ran"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(2));
    ok(cluster
        .command("scancel")
        .args(&ids)
        .output()
        .expect("scancel"));
    let start = Instant::now();
    while ids.iter().any(|id| !cluster.states(id).trim().is_empty()) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "jobs left the queue"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = ok(run(study(&["--status"], &cancelled)));
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(!text.contains("16 of 16 steps done"), "{text}");
    assert!(!cancelled.join("results.jsonl").exists());
    let o = ok(run(study(&["--executor", "slurm", "--wait"], &cancelled)));
    assert!(stderr(&o).contains("report written"), "{}", stderr(&o));
    assert_eq!(metrics(&cancelled), want);
    let status = ok(run(study(&["--status"], &cancelled)));
    let text = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(text.contains("16 of 16 steps done"), "{text}");
}
