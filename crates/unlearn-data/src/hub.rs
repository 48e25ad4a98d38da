//! The Hugging Face Hub: its cache folder and offline switch (shared with the model
//! crate's `hf://` checkpoints), and the parquet shards of a dataset repository.
//!
//! The cache folder is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else
//! `~/.cache/huggingface/hub` (the layout of the Python `huggingface_hub`:
//! `datasets--org--name/{refs,snapshots,blobs}`). With `HF_HUB_OFFLINE=1` only the cache is
//! consulted. `HF_ENDPOINT` overrides the hub's address.
//!
//! A dataset's shards are its own `data/**/*.parquet` files, else any `*.parquet` it holds,
//! else those of its `refs/convert/parquet` branch (the hub's automatic conversion, one
//! folder per configuration: `default` is taken, or the only one). Which files a revision
//! holds is recorded beside the decoded-image cache (`hub/<repo>/<revision>.json`), so an
//! offline run reads exactly the shards an online run listed. As for model files, the cache
//! comes first: a revision listed before whose shards are all in the hub cache is read
//! without asking the hub.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// The hub cache folder from the environment.
pub fn cache_dir() -> PathBuf {
    env_path("HF_HUB_CACHE")
        .or_else(|| env_path("HF_HOME").map(|p| p.join("hub")))
        .unwrap_or_else(|| home_cache("huggingface").join("hub"))
}

/// The folder an environment variable names, when it is set and not empty.
pub(crate) fn env_path(var: &str) -> Option<PathBuf> {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `~/.cache/<name>` (`./.cache/<name>` without `$HOME`).
pub(crate) fn home_cache(name: &str) -> PathBuf {
    env_path("HOME")
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".cache")
        .join(name)
}

/// Whether `HF_HUB_OFFLINE` asks for cache-only resolution.
pub fn offline() -> bool {
    matches!(
        std::env::var("HF_HUB_OFFLINE").ok().as_deref(),
        Some("1") | Some("true") | Some("TRUE") | Some("yes")
    )
}

/// The branch the hub writes its parquet conversion of a dataset to.
pub const CONVERT_BRANCH: &str = "refs/convert/parquet";

/// Which shards a dataset revision was found to hold.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct ShardList {
    /// The revision the shards were read from (the one asked for, or the conversion branch).
    revision: String,
    /// The commit the hub reported.
    commit: String,
    /// The shard files, relative to the repository.
    files: Vec<String>,
}

fn list_path(listings: &Path, repo: &str, revision: &str) -> PathBuf {
    listings
        .join(format!("datasets--{}", repo.replace('/', "--")))
        .join(format!("{}.json", revision.replace('/', "--")))
}

fn pick_shards(files: &[String]) -> Vec<String> {
    let parquet: Vec<String> = files
        .iter()
        .filter(|f| f.ends_with(".parquet"))
        .cloned()
        .collect();
    let data: Vec<String> = parquet
        .iter()
        .filter(|f| f.starts_with("data/"))
        .cloned()
        .collect();
    if data.is_empty() {
        parquet
    } else {
        data
    }
}

fn pick_config(files: &[String]) -> std::result::Result<Vec<String>, String> {
    let mut configs: Vec<&str> = files.iter().filter_map(|f| f.split('/').next()).collect();
    configs.sort();
    configs.dedup();
    let chosen = match configs.as_slice() {
        [one] => *one,
        many if many.contains(&"default") => "default",
        many => {
            return Err(format!(
                "its parquet conversion has several configurations ({}); none is `default`",
                many.join(", ")
            ))
        }
    };
    Ok(files
        .iter()
        .filter(|f| f.split('/').next() == Some(chosen))
        .cloned()
        .collect())
}

/// The local paths of `repo`'s parquet shards at `revision` (relative name, local path),
/// downloaded into the hub cache unless offline; `listings` is where shard lists are kept.
pub(crate) fn dataset_shards(
    repo: &str,
    revision: &str,
    listings: &Path,
) -> Result<Vec<(String, PathBuf)>> {
    let err = |reason: String| DataError::Hub {
        repo: repo.to_string(),
        revision: revision.to_string(),
        reason,
    };
    let list_file = list_path(listings, repo, revision);
    let cache = cache_dir();
    // Cache first, as for model files: a revision listed before whose every shard is in the
    // hub cache is read without asking the hub.
    let cached: Option<ShardList> = std::fs::read_to_string(&list_file)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    if let Some(list) = &cached {
        let local: Option<Vec<(String, PathBuf)>> = list
            .files
            .iter()
            .map(|f| cached_shard(&cache, repo, list, f).map(|p| (f.clone(), p)))
            .collect();
        if let Some(local) = local {
            return Ok(local);
        }
    }
    let list = if offline() {
        cached.ok_or_else(|| {
            err(format!(
                "not in the cache and HF_HUB_OFFLINE=1: no shard list at {} (run once online \
                 to download it)",
                list_file.display()
            ))
        })?
    } else {
        let list = list_online(repo, revision, &cache).map_err(err)?;
        let text = serde_json::to_string_pretty(&list)
            .map_err(|e| err(format!("cannot write the shard list: {e}")))?;
        unlearn_io::write_atomic(&list_file, text.as_bytes())?;
        list
    };
    let mut out = Vec::new();
    for file in &list.files {
        let local = match cached_shard(&cache, repo, &list, file) {
            Some(p) => p,
            None if offline() => {
                let expected = snapshot_path(&cache, repo, &list, file);
                return Err(err(format!(
                    "'{file}' is not in the Hugging Face cache and HF_HUB_OFFLINE=1; \
                     expected it at {}",
                    expected.display()
                )));
            }
            None => download(repo, &list.revision, file, &cache).map_err(err)?,
        };
        out.push((file.clone(), local));
    }
    Ok(out)
}

fn snapshot_path(cache: &Path, repo: &str, list: &ShardList, file: &str) -> PathBuf {
    let hub_repo = hf_hub::Repo::with_revision(
        repo.to_string(),
        hf_hub::RepoType::Dataset,
        list.revision.clone(),
    );
    cache
        .join(hub_repo.folder_name())
        .join("snapshots")
        .join(&list.commit)
        .join(file)
}

/// A listed shard's file in the hub cache, if it is there.
fn cached_shard(cache: &Path, repo: &str, list: &ShardList, file: &str) -> Option<PathBuf> {
    let hub_repo = hf_hub::Repo::with_revision(
        repo.to_string(),
        hf_hub::RepoType::Dataset,
        list.revision.clone(),
    );
    hf_hub::Cache::new(cache.to_path_buf())
        .repo(hub_repo)
        .get(file)
        .or_else(|| Some(snapshot_path(cache, repo, list, file)).filter(|p| p.is_file()))
}

fn api(cache: &Path) -> std::result::Result<hf_hub::api::sync::Api, String> {
    let mut builder =
        hf_hub::api::sync::ApiBuilder::from_cache(hf_hub::Cache::new(cache.to_path_buf()))
            .with_progress(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        builder = builder.with_endpoint(endpoint);
    }
    builder.build().map_err(|e| e.to_string())
}

fn list_online(repo: &str, revision: &str, cache: &Path) -> std::result::Result<ShardList, String> {
    use hf_hub::{Repo, RepoType};
    let api = api(cache)?;
    let info = |rev: &str| {
        api.repo(Repo::with_revision(
            repo.to_string(),
            RepoType::Dataset,
            rev.to_string(),
        ))
        .info()
        .map_err(|e| format!("cannot list the repository's files at `{rev}`: {e}"))
    };
    let main = info(revision)?;
    let files: Vec<String> = main.siblings.iter().map(|s| s.rfilename.clone()).collect();
    let shards = pick_shards(&files);
    if !shards.is_empty() {
        return Ok(ShardList {
            revision: revision.to_string(),
            commit: main.sha,
            files: shards,
        });
    }
    let converted = info(CONVERT_BRANCH).map_err(|e| {
        format!("the repository holds no .parquet file, and its `{CONVERT_BRANCH}` branch: {e}")
    })?;
    let files: Vec<String> = converted
        .siblings
        .iter()
        .map(|s| s.rfilename.clone())
        .filter(|f| f.ends_with(".parquet"))
        .collect();
    if files.is_empty() {
        return Err(format!(
            "no .parquet file in the repository nor in its `{CONVERT_BRANCH}` branch"
        ));
    }
    Ok(ShardList {
        revision: CONVERT_BRANCH.to_string(),
        commit: converted.sha,
        files: pick_config(&files)?,
    })
}

fn download(
    repo: &str,
    revision: &str,
    file: &str,
    cache: &Path,
) -> std::result::Result<PathBuf, String> {
    use hf_hub::{Repo, RepoType};
    api(cache)?
        .repo(Repo::with_revision(
            repo.to_string(),
            RepoType::Dataset,
            revision.to_string(),
        ))
        .get(file)
        .map_err(|e| format!("cannot download '{file}': {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_folder_wins_and_one_configuration_is_chosen() {
        let files: Vec<String> = ["README.md", "data/train-0.parquet", "extra/x.parquet"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            pick_shards(&files),
            vec!["data/train-0.parquet".to_string()]
        );
        let conv: Vec<String> = [
            "a/train/0.parquet",
            "default/train/0.parquet",
            "default/test/0.parquet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(pick_config(&conv).unwrap().len(), 2);
        let two: Vec<String> = ["a/train/0.parquet", "b/train/0.parquet"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert!(pick_config(&two).unwrap_err().contains("a, b"));
    }
}
