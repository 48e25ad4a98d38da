//! Tells `tests/slurm_executor.rs` whether a local Slurm can run here.
//!
//! The test brings up a single-node cluster with Debian's `slurmctld`, `slurmd` and
//! `munged`, whose daemons run as root. When those programs are missing, or the build does
//! not run as root, the test is compiled with `#[ignore]` and a reason, so the harness
//! reports it as ignored, never as passed. `scripts/slurm-local.sh install` (which `.ci/run`
//! calls before the tests are built) installs them; cargo re-runs this script when the
//! program folders change.

use std::path::Path;
use std::process::Command;

const PROGRAMS: [&str; 4] = ["sbatch", "slurmctld", "slurmd", "munged"];
const FOLDERS: [&str; 4] = ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"];

fn installed(program: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(FOLDERS.iter().map(Into::into))
        .any(|dir| dir.join(program).is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn main() {
    println!("cargo::rustc-check-cfg=cfg(local_slurm)");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PATH");
    for folder in FOLDERS {
        if Path::new(folder).is_dir() {
            println!("cargo::rerun-if-changed={folder}");
        }
    }
    if PROGRAMS.iter().all(|p| installed(p)) && is_root() {
        println!("cargo::rustc-cfg=local_slurm");
    }
}
