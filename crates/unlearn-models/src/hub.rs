//! `hf://<org>/<repo>/<file>[@<revision>]` addresses, resolved through `hf-hub`.
//!
//! The cache folder is `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`
//! (the layout of the Python `huggingface_hub`: `models--org--repo/{refs,snapshots,blobs}`).
//! With `HF_HUB_OFFLINE=1` only the cache is consulted, and a miss is an error naming the
//! path where the file was expected. `HF_ENDPOINT` overrides the hub's address.

use std::path::{Path, PathBuf};

use crate::error::{ModelError, Result};

/// A parsed `hf://` address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HubFile {
    /// `org/repo`.
    pub repo: String,
    /// Path of the file inside the repository.
    pub file: String,
    /// Branch, tag or commit (default `main`).
    pub revision: String,
}

impl HubFile {
    /// Parses `hf://org/repo/path/to/file[@revision]`; `None` when `spec` is not an `hf://` address.
    pub fn parse(spec: &str) -> Option<Result<Self>> {
        let rest = spec.strip_prefix("hf://")?;
        let bad = |reason: &str| ModelError::BadHubSpec {
            spec: spec.to_string(),
            reason: reason.to_string(),
        };
        let (path, revision) = match rest.rsplit_once('@') {
            Some((p, r)) if !r.is_empty() && !r.contains('/') => (p, r.to_string()),
            Some((_, _)) => return Some(Err(bad("empty or malformed revision after '@'"))),
            None => (rest, "main".to_string()),
        };
        // Every segment is a plain name: no `..` or `.` (the file is joined onto the cache
        // folder, and must stay inside it), no empty segment (`a//b`, a leading `/`), no
        // backslash.
        if let Some(seg) = path
            .split('/')
            .find(|seg| seg.is_empty() || *seg == "." || *seg == ".." || seg.contains('\\'))
        {
            let shown = if seg.is_empty() {
                "an empty segment".to_string()
            } else {
                format!("'{seg}'")
            };
            return Some(Err(bad(&format!(
                "its path may not contain {shown}: every segment must be a plain name"
            ))));
        }
        if revision == "." || revision == ".." || revision.contains('\\') {
            return Some(Err(bad("the revision must be a plain name")));
        }
        let parts: Vec<&str> = path.splitn(3, '/').collect();
        if parts.len() < 3 || parts.iter().any(|p| p.is_empty()) {
            return Some(Err(bad(
                "it needs an organisation, a repository and a file",
            )));
        }
        Some(Ok(Self {
            repo: format!("{}/{}", parts[0], parts[1]),
            file: parts[2].to_string(),
            revision,
        }))
    }
}

pub use unlearn_data::hub::{cache_dir, offline};

fn is_commit(rev: &str) -> bool {
    rev.len() == 40 && rev.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Looks `file` up in the cache at `cache`; `Err(expected_path)` on a miss.
pub fn cached_path(cache: &Path, f: &HubFile) -> std::result::Result<PathBuf, PathBuf> {
    use hf_hub::{Cache, Repo, RepoType};
    let repo = Repo::with_revision(f.repo.clone(), RepoType::Model, f.revision.clone());
    let folder = cache.join(repo.folder_name());
    if let Some(p) = Cache::new(cache.to_path_buf()).repo(repo).get(&f.file) {
        return Ok(p);
    }
    // A commit hash needs no ref file: snapshots/<commit>/<file>.
    let commit = if is_commit(&f.revision) {
        f.revision.clone()
    } else {
        std::fs::read_to_string(folder.join("refs").join(&f.revision))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "<commit of ".to_string() + &f.revision + ">")
    };
    let p = folder.join("snapshots").join(commit).join(&f.file);
    if p.is_file() {
        Ok(p)
    } else {
        Err(p)
    }
}

/// Resolves an `hf://` address to a local file: from the cache, or (unless offline) by download.
pub fn resolve(f: &HubFile) -> Result<PathBuf> {
    let cache = cache_dir();
    match cached_path(&cache, f) {
        Ok(p) => Ok(p),
        Err(expected) if offline() => Err(ModelError::NotCached {
            repo: f.repo.clone(),
            file: f.file.clone(),
            revision: f.revision.clone(),
            expected,
        }),
        Err(_) => {
            use hf_hub::{api::sync::ApiBuilder, Repo, RepoType};
            let mut builder = ApiBuilder::from_cache(hf_hub::Cache::new(cache))
                .with_progress(std::io::IsTerminal::is_terminal(&std::io::stderr()));
            if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
                builder = builder.with_endpoint(endpoint);
            }
            let dl = |reason: String| ModelError::Download {
                repo: f.repo.clone(),
                file: f.file.clone(),
                revision: f.revision.clone(),
                reason,
            };
            let api = builder.build().map_err(|e| dl(e.to_string()))?;
            api.repo(Repo::with_revision(
                f.repo.clone(),
                RepoType::Model,
                f.revision.clone(),
            ))
            .get(&f.file)
            .map_err(|e| dl(e.to_string()))
        }
    }
}

/// A checkpoint argument: a local path or an `hf://` address, resolved to a local file.
pub fn resolve_checkpoint(spec: &str) -> Result<PathBuf> {
    match HubFile::parse(spec) {
        Some(parsed) => resolve(&parsed?),
        None => Ok(PathBuf::from(spec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_that_leave_the_cache_are_refused() {
        for spec in [
            "hf://org/repo/../../etc/passwd",
            "hf://org/repo/./model.safetensors",
            "hf://org/repo//model.safetensors",
            "hf://org/../x/model.safetensors",
            "hf://org/repo/a\\..\\b",
            "hf://org/repo/m.safetensors@..",
        ] {
            let err = HubFile::parse(spec).and_then(|r| r.err());
            assert!(
                matches!(err, Some(ModelError::BadHubSpec { .. })),
                "{spec} was accepted"
            );
        }
        let ok = HubFile::parse("hf://org/repo/sub/m.safetensors@v1.0").and_then(|r| r.ok());
        assert_eq!(ok.map(|f| f.file), Some("sub/m.safetensors".to_string()));
    }
}
