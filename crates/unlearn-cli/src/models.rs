//! `unlearn models`: the registry of known public checkpoints (`model:<id>`).

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use unlearn_models::registry::{self, ModelEntry, Registry};

/// Examples shown by `unlearn models --help`.
pub const MODELS_EXAMPLES: &str = "\
Examples:
  unlearn models list
  unlearn models list --json
  unlearn models show comparator-resnet18-cifar10-full
  unlearn models show comparator-resnet18-cifar10-no-3 --json
  unlearn models fetch comparator-resnet18-cifar10-full --with-oracles
  HF_HUB_OFFLINE=1 unlearn models fetch comparator-resnet18-cifar10-no-3

The registry is built in (models/registry.toml); UNLEARN_MODEL_REGISTRY=<file> replaces it.
Files go to the Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub, else
~/.cache/huggingface/hub; HF_ENDPOINT overrides the hub, HF_HUB_OFFLINE=1 uses the cache
only). The first download records each file's SHA-256 under <cache>/unlearn-sha256/, and
every later load checks it (an entry's own sha256, where given, is checked instead).";

/// Arguments of `unlearn models`.
#[derive(Args)]
pub struct ModelsArgs {
    #[command(subcommand)]
    command: ModelsCommand,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// List the registry's models: id, architecture, what each was trained on, repository.
    List {
        /// Print JSON (every entry in full) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one entry with its oracles (TOML, or JSON with --json).
    Show {
        /// The model id (see `unlearn models list`).
        id: String,
        /// Print JSON instead of TOML.
        #[arg(long)]
        json: bool,
    },
    /// Download models into the hub cache (or find them there) and print each local path
    /// and SHA-256.
    Fetch {
        /// Model ids.
        #[arg(required = true)]
        ids: Vec<String>,
        /// Also fetch every oracle of each model.
        #[arg(long)]
        with_oracles: bool,
        /// Print JSON lines ({"id", "path", "sha256"}) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `unlearn models …`.
pub fn models(args: ModelsArgs) -> Result<()> {
    let reg = Registry::load_default()?;
    match args.command {
        ModelsCommand::List { json } => list(&reg, json),
        ModelsCommand::Show { id, json } => show(&reg, &id, json),
        ModelsCommand::Fetch {
            ids,
            with_oracles,
            json,
        } => fetch(&reg, &ids, with_oracles, json),
    }
}

/// `trained on …` for an original, `forget …` for an oracle.
fn made_of(e: &ModelEntry) -> String {
    match &e.forget {
        Some(f) => format!("oracle, forgets {f}"),
        None => format!("original, {} oracles", e.oracles.len()),
    }
}

fn list(reg: &Registry, as_json: bool) -> Result<()> {
    if as_json {
        let entries = serde_json::to_value(reg.entries())?;
        let out = json!({ "registry": reg.source(), "models": entries });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    let rows: Vec<[String; 4]> = reg
        .entries()
        .iter()
        .map(|e| {
            [
                e.id.clone(),
                e.arch.to_string(),
                made_of(e),
                format!("{}@{}", e.repo, short_rev(&e.revision)),
            ]
        })
        .collect();
    let head = ["id", "arch", "kind", "repo@revision"];
    let mut widths = head.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 4]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s
    };
    println!("{}", line(head));
    for row in &rows {
        println!("{}", line([&row[0], &row[1], &row[2], &row[3]]));
    }
    println!("({} models, registry {})", rows.len(), reg.source());
    Ok(())
}

/// A commit shortened to 12 digits; branch and tag names as they are.
fn short_rev(rev: &str) -> &str {
    if rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
        &rev[..12]
    } else {
        rev
    }
}

fn show(reg: &Registry, id: &str, as_json: bool) -> Result<()> {
    let e = reg.get(id)?;
    let oracles: Vec<&ModelEntry> = e.oracles.values().filter_map(|o| reg.get(o).ok()).collect();
    if as_json {
        let out = json!({
            "model": serde_json::to_value(e)?,
            "hub": e.hub_spec(),
            "oracle_entries": serde_json::to_value(&oracles)?,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("# {} ({}; {})", e.id, made_of(e), e.hub_spec());
    print!("{}", e.to_toml()?);
    for o in oracles {
        println!();
        println!("# oracle {} ({})", o.id, o.hub_spec());
        print!("{}", o.to_toml()?);
    }
    Ok(())
}

fn fetch(reg: &Registry, ids: &[String], with_oracles: bool, as_json: bool) -> Result<()> {
    let mut wanted: Vec<&ModelEntry> = Vec::new();
    for id in ids {
        let e = reg.get(id)?;
        if !wanted.iter().any(|w| w.id == e.id) {
            wanted.push(e);
        }
        if with_oracles {
            for o in e.oracles.values() {
                let o = reg.get(o)?;
                if !wanted.iter().any(|w| w.id == o.id) {
                    wanted.push(o);
                }
            }
        }
    }
    for e in wanted {
        let got = registry::resolve_entry(e)
            .with_context(|| format!("fetching model '{}' ({})", e.id, e.hub_spec()))?;
        if as_json {
            let line = json!({ "id": e.id, "path": got.path, "sha256": got.sha256 });
            println!("{}", serde_json::to_string(&line)?);
        } else {
            println!("{}  {}  {}", e.id, got.sha256, got.path.display());
        }
    }
    Ok(())
}
