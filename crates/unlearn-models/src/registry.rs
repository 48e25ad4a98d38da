//! The model registry: public checkpoints known by name, `model:<id>`.
//!
//! The registry is a TOML file of `[[model]]` entries (`models/registry.toml`, embedded in
//! the binary; `UNLEARN_MODEL_REGISTRY=<file>` replaces it). Every entry says where the file
//! lives on the Hugging Face Hub (repo, file, revision), what it is (architecture, input
//! shape, classes, the input normalisation it was trained with, its tensor naming and file
//! format), how it was made (`trained_on`, and `forget` for a retrained oracle) and, for an
//! original, which entries are its oracles (`[model.oracles]`: scenario → id). The parse is
//! checked: unknown keys are refused, closed sets are enums, ids are unique, oracle ids
//! exist and forget what their scenario says; errors name the entry and the field.
//!
//! # SHA-256
//! [`resolve`] downloads the file through [`crate::hub::resolve`] (or finds it in the hub
//! cache, also offline) and checks its SHA-256: against the entry's `sha256` when it has
//! one, else against the digest recorded by the first resolve, in
//! `<hub cache>/unlearn-sha256/<org>--<repo>/<revision>/<file>.sha256` (written atomically
//! under a lock). A mismatch is an error naming the file, both digests and what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

use crate::arch::{Arch, ModelSpec};
use crate::checkpoint::Normalization;
use crate::error::{ModelError, Result, ShaDigests, ShaSource};
use crate::hub::{self, HubFile};

/// The registry compiled into the toolkit (`models/registry.toml`).
pub const EMBEDDED_REGISTRY: &str = include_str!("../../../models/registry.toml");

/// The name the embedded registry goes by in errors.
pub const EMBEDDED_NAME: &str = "models/registry.toml (built in)";

/// The environment variable naming a registry file that replaces the embedded one.
pub const REGISTRY_ENV: &str = "UNLEARN_MODEL_REGISTRY";

/// The prefix of a registry model spec: `model:<id>`.
pub const SPEC_PREFIX: &str = "model:";

/// The largest registry file read.
const MAX_REGISTRY_BYTES: u64 = 16 << 20;

/// The folder of the hub cache holding the recorded digests.
pub const SHA_RECORD_DIR: &str = "unlearn-sha256";

/// How a checkpoint's tensors are named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Naming {
    /// This toolkit's own names (which are torchvision's for the CNNs).
    Toolkit,
    /// torchvision's `state_dict` names (`conv1.weight`, `layer1.0.bn1.*`, `fc.*`).
    Torchvision,
    /// kuangliu/pytorch-cifar's ResNet names (`linear.*`, `shortcut.*`).
    Kuangliu,
}

/// The file format of a checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// A safetensors file.
    Safetensors,
    /// A `torch.save` zip (a state dict, read as data, never executed).
    Pth,
}

/// The stem of a ResNet: the first convolution and whether a max-pool follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stem {
    /// 3×3 conv, stride 1, no max-pool (`resnet18-cifar`).
    Cifar,
    /// 7×7 conv, stride 2, 3×3 max-pool (`resnet18`).
    Imagenet,
}

/// Parses a closed set's name; the error lists the accepted names.
fn parse_name<T: Copy>(text: &str, all: &[(T, &str)]) -> std::result::Result<T, String> {
    all.iter()
        .find(|(_, n)| *n == text)
        .map(|(v, _)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|(_, n)| *n).collect();
            format!("'{text}' is not one of {}", names.join(", "))
        })
}

impl FromStr for Naming {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        parse_name(
            s,
            &[
                (Naming::Toolkit, "toolkit"),
                (Naming::Torchvision, "torchvision"),
                (Naming::Kuangliu, "kuangliu"),
            ],
        )
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        parse_name(
            s,
            &[(Format::Safetensors, "safetensors"), (Format::Pth, "pth")],
        )
    }
}

impl FromStr for Stem {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        parse_name(s, &[(Stem::Cifar, "cifar"), (Stem::Imagenet, "imagenet")])
    }
}

fn arch_by_name<S: Serializer>(arch: &Arch, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(arch.name())
}

/// The normalisation with each `f32` written as its shortest decimal (`0.4914`, not the
/// `f64` widening `0.49140000343322754`).
fn normalization_as_written<S: Serializer>(
    n: &Normalization,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    let wide = |v: &[f32]| -> Vec<f64> {
        v.iter()
            .map(|x| x.to_string().parse().unwrap_or(f64::from(*x)))
            .collect()
    };
    #[derive(Serialize)]
    struct Wide {
        mean: Vec<f64>,
        std: Vec<f64>,
    }
    Wide {
        mean: wide(&n.mean),
        std: wide(&n.std),
    }
    .serialize(s)
}

/// One checked registry entry.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelEntry {
    /// The id `model:<id>` names.
    pub id: String,
    /// Hub repository, `org/repo`.
    pub repo: String,
    /// The file in the repository.
    pub file: String,
    /// Branch, tag or commit.
    pub revision: String,
    /// Architecture.
    #[serde(serialize_with = "arch_by_name")]
    pub arch: Arch,
    /// The ResNet stem, where stated (it agrees with `arch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stem: Option<Stem>,
    /// Input shape `[C, H, W]`.
    pub input_shape: [usize; 3],
    /// Number of classes.
    pub num_classes: usize,
    /// The input normalisation the model was trained with (one value per channel).
    #[serde(serialize_with = "normalization_as_written")]
    pub normalization: Normalization,
    /// How its tensors are named.
    pub naming: Naming,
    /// Its file format.
    pub format: Format,
    /// What it was trained on, in a sentence.
    pub trained_on: String,
    /// For a retrained oracle: the scenario it forgets (`class:3`); `None` for an original.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forget: Option<String>,
    /// For an original: scenario → id of the oracle retrained without that forget set.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub oracles: BTreeMap<String, String>,
    /// The licence of the weights.
    pub license: String,
    /// The file's SHA-256 (lower-case hex), where the registry pins it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl ModelEntry {
    /// The hub address of the file.
    pub fn hub_file(&self) -> HubFile {
        HubFile {
            repo: self.repo.clone(),
            file: self.file.clone(),
            revision: self.revision.clone(),
        }
    }

    /// `hf://org/repo/file@revision`.
    pub fn hub_spec(&self) -> String {
        format!("hf://{}/{}@{}", self.repo, self.file, self.revision)
    }

    /// The model this entry describes.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec {
            arch: self.arch,
            input_shape: self.input_shape,
            num_classes: self.num_classes,
        }
    }

    /// The entry as TOML (one `[[model]]` table).
    pub fn to_toml(&self) -> Result<String> {
        #[derive(Serialize)]
        struct One<'a> {
            model: [&'a ModelEntry; 1],
        }
        toml::to_string(&One { model: [self] }).map_err(|e| ModelError::BadRegistry {
            registry: "(output)".into(),
            place: format!("entry '{}'", self.id),
            reason: format!("cannot be written as TOML: {e}"),
        })
    }
}

/// An entry as written, before its checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    id: String,
    repo: String,
    file: String,
    #[serde(default = "main_revision")]
    revision: String,
    arch: String,
    stem: Option<String>,
    input_shape: [usize; 3],
    num_classes: usize,
    normalization: RawNormalization,
    naming: String,
    format: String,
    trained_on: String,
    forget: Option<String>,
    #[serde(default)]
    oracles: BTreeMap<String, String>,
    license: String,
    sha256: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNormalization {
    mean: Vec<f32>,
    std: Vec<f32>,
}

fn main_revision() -> String {
    "main".to_string()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRegistry {
    #[serde(default)]
    model: Vec<toml::Table>,
}

/// The checked registry.
#[derive(Clone, Debug)]
pub struct Registry {
    source: String,
    entries: Vec<ModelEntry>,
}

impl Registry {
    /// The registry in use: the file `$UNLEARN_MODEL_REGISTRY` when set, else the embedded one.
    pub fn load_default() -> Result<Registry> {
        match std::env::var_os(REGISTRY_ENV).filter(|v| !v.is_empty()) {
            Some(path) => Self::from_file(Path::new(&path)).map_err(|e| ModelError::RegistryEnv {
                var: REGISTRY_ENV,
                path: PathBuf::from(&path),
                cause: Box::new(e),
            }),
            None => Self::embedded(),
        }
    }

    /// The embedded registry (`models/registry.toml`).
    pub fn embedded() -> Result<Registry> {
        Self::from_toml(EMBEDDED_REGISTRY, EMBEDDED_NAME)
    }

    /// Reads and checks the registry file at `path`.
    pub fn from_file(path: &Path) -> Result<Registry> {
        let text = unlearn_io::read_regular_to_string(path, "model registry", MAX_REGISTRY_BYTES)?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Parses and checks registry text; `source_name` names it in errors.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Registry> {
        let bad = |place: String, reason: String| ModelError::BadRegistry {
            registry: source_name.to_string(),
            place,
            reason,
        };
        let raw: RawRegistry = toml::from_str(text).map_err(|e| {
            bad(
                "the file".into(),
                format!("not a registry of [[model]] tables: {e}"),
            )
        })?;
        let mut entries = Vec::with_capacity(raw.model.len());
        let mut seen = BTreeSet::new();
        for (i, table) in raw.model.into_iter().enumerate() {
            let name = match table.get("id").and_then(|v| v.as_str()) {
                Some(id) => format!("entry '{id}'"),
                None => format!("entry {} (of the [[model]] tables)", i + 1),
            };
            let raw = raw_entry(table).map_err(|(field, reason)| {
                let place = match field {
                    Some(f) => format!("{name}, field '{f}'"),
                    None => name.clone(),
                };
                bad(place, reason)
            })?;
            let entry = check_entry(raw)
                .map_err(|(field, reason)| bad(format!("{name}, field '{field}'"), reason))?;
            if !seen.insert(entry.id.clone()) {
                return Err(bad(
                    format!("{name}, field 'id'"),
                    "the id is used by an earlier entry: ids must be unique".into(),
                ));
            }
            entries.push(entry);
        }
        check_oracles(&entries).map_err(|(place, reason)| bad(place, reason))?;
        Ok(Registry {
            source: source_name.to_string(),
            entries,
        })
    }

    /// Where the registry came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every entry, in file order.
    pub fn entries(&self) -> &[ModelEntry] {
        &self.entries
    }

    /// The entry `id`; an unknown id is an error listing the known ones.
    pub fn get(&self, id: &str) -> Result<&ModelEntry> {
        self.entries
            .iter()
            .find(|e| e.id == id)
            .ok_or_else(|| ModelError::UnknownModel {
                id: id.to_string(),
                registry: self.source.clone(),
                known: if self.entries.is_empty() {
                    "none".to_string()
                } else {
                    self.entries
                        .iter()
                        .map(|e| e.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }
}

type FieldError = (&'static str, String);

/// Deserializes one `[[model]]` table; an error names the key at fault where it can.
fn raw_entry(table: toml::Table) -> std::result::Result<RawEntry, (Option<String>, String)> {
    // Through text, so that the error's span points at the key (a `Value` has no spans).
    let text = toml::to_string(&table).map_err(|e| (None, e.to_string()))?;
    toml::from_str::<RawEntry>(&text).map_err(|e| {
        // A missing field has no line of its own: the span points at the table, so the key
        // on that line would be blamed; name the field the message names instead.
        let missing = e
            .message()
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string);
        (
            missing.or_else(|| e.span().and_then(|s| key_at(&text, s.start))),
            e.message().to_string(),
        )
    })
}

/// The key (`a` or `section.a`) of the TOML line holding byte `offset` of `text`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let mut section: Option<&str> = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim();
        let header = t
            .strip_prefix('[')
            .map(|h| h.trim_matches(|c| c == '[' || c == ']').trim());
        if offset < start + line.len() {
            return match header {
                Some(h) => Some(h.to_string()),
                None => {
                    let key = t.split('=').next()?.trim().trim_matches('"');
                    Some(match section {
                        Some(s) => format!("{s}.{key}"),
                        None => key.to_string(),
                    })
                }
            };
        }
        if header.is_some() {
            section = header;
        }
        start += line.len();
    }
    None
}

/// A plain name: no empty, `.` or `..` segment, no backslash (it is joined onto folders).
fn check_path(
    field: &'static str,
    text: &str,
    segments: bool,
) -> std::result::Result<(), FieldError> {
    let parts: Vec<&str> = if segments {
        text.split('/').collect()
    } else {
        vec![text]
    };
    if parts
        .iter()
        .any(|s| s.is_empty() || *s == "." || *s == ".." || s.contains('\\') || s.contains('/'))
    {
        return Err((
            field,
            format!("'{text}' is not a plain name (no empty, '.' or '..' segment, no backslash)"),
        ));
    }
    Ok(())
}

/// The stated ResNet stem, which must agree with the architecture.
fn check_stem(arch: Arch, text: Option<&str>) -> std::result::Result<Option<Stem>, FieldError> {
    let stem = text
        .map(Stem::from_str)
        .transpose()
        .map_err(|e| ("stem", e))?;
    let expected_stem = match arch {
        Arch::ResNet18Cifar => Some(Stem::Cifar),
        Arch::ResNet18 => Some(Stem::Imagenet),
        _ => None,
    };
    if stem.is_some() && stem != expected_stem {
        return Err((
            "stem",
            format!(
                "'{}' does not fit architecture {arch}: expected {}",
                text.unwrap_or_default(),
                match expected_stem {
                    Some(Stem::Cifar) => "'cifar' (or no stem)",
                    Some(Stem::Imagenet) => "'imagenet' (or no stem)",
                    None => "no stem (it is not a ResNet)",
                }
            ),
        ));
    }
    Ok(stem)
}

fn check_entry(raw: RawEntry) -> std::result::Result<ModelEntry, FieldError> {
    let id = raw.id.trim().to_string();
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err((
            "id",
            format!(
                "'{}' is not an id: expected letters, digits, '-', '_' or '.'",
                raw.id
            ),
        ));
    }
    check_path("repo", &raw.repo, true)?;
    if raw.repo.split('/').count() != 2 {
        return Err(("repo", format!("'{}' is not 'org/repo'", raw.repo)));
    }
    check_path("file", &raw.file, true)?;
    check_path("revision", &raw.revision, false)?;
    let arch = Arch::from_str(&raw.arch).map_err(|e| ("arch", e.to_string()))?;
    let stem = check_stem(arch, raw.stem.as_deref())?;
    crate::limits::check_input_shape(raw.input_shape).map_err(|e| ("input_shape", e))?;
    if !(2..=crate::limits::MAX_CLASSES).contains(&raw.num_classes) {
        return Err((
            "num_classes",
            format!(
                "{} classes: expected 2..={}",
                raw.num_classes,
                crate::limits::MAX_CLASSES
            ),
        ));
    }
    let normalization = Normalization {
        mean: raw.normalization.mean,
        std: raw.normalization.std,
    };
    normalization
        .check(Some(raw.input_shape[0]))
        .map_err(|e| ("normalization", e))?;
    let naming = Naming::from_str(&raw.naming).map_err(|e| ("naming", e))?;
    let format = Format::from_str(&raw.format).map_err(|e| ("format", e))?;
    let scenario = |field: &'static str, text: &str| -> std::result::Result<(), FieldError> {
        unlearn_data::scenario::Scenario::from_str(text)
            .and_then(|s| s.validate(raw.num_classes))
            .map_err(|e| (field, e.to_string()))
    };
    if let Some(f) = &raw.forget {
        scenario("forget", f)?;
        if !raw.oracles.is_empty() {
            return Err((
                "oracles",
                "an oracle (an entry with 'forget') has no oracles of its own".into(),
            ));
        }
    }
    for key in raw.oracles.keys() {
        scenario("oracles", key)?;
    }
    let sha256 = match raw.sha256 {
        Some(s) if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Some(s.to_ascii_lowercase())
        }
        Some(s) => return Err(("sha256", format!("'{s}' is not 64 hexadecimal digits"))),
        None => None,
    };
    if raw.trained_on.trim().is_empty() {
        return Err((
            "trained_on",
            "empty: say what the model was trained on".into(),
        ));
    }
    if raw.license.trim().is_empty() {
        return Err((
            "license",
            "empty: name the licence, or say it is unknown".into(),
        ));
    }
    Ok(ModelEntry {
        id,
        repo: raw.repo,
        file: raw.file,
        revision: raw.revision,
        arch,
        stem,
        input_shape: raw.input_shape,
        num_classes: raw.num_classes,
        normalization,
        naming,
        format,
        trained_on: raw.trained_on,
        forget: raw.forget,
        oracles: raw.oracles,
        license: raw.license,
        sha256,
    })
}

/// Every oracle id exists, forgets what its scenario says, and is the same kind of model.
fn check_oracles(entries: &[ModelEntry]) -> std::result::Result<(), (String, String)> {
    for e in entries {
        for (scenario, oracle_id) in &e.oracles {
            let place = format!("entry '{}', field 'oracles' (\"{scenario}\")", e.id);
            let Some(o) = entries.iter().find(|o| &o.id == oracle_id) else {
                return Err((
                    place,
                    format!("oracle '{oracle_id}' is not an entry of the registry"),
                ));
            };
            if o.forget.as_deref() != Some(scenario.as_str()) {
                return Err((
                    place,
                    format!(
                        "oracle '{oracle_id}' forgets {}, not '{scenario}'",
                        o.forget
                            .as_deref()
                            .map(|f| format!("'{f}'"))
                            .unwrap_or_else(|| "nothing (it has no 'forget')".into())
                    ),
                ));
            }
            if o.spec() != e.spec() {
                return Err((
                    place,
                    format!(
                        "oracle '{oracle_id}' is a {} {:?} with {} classes, the original a {} {:?} with {}",
                        o.arch, o.input_shape, o.num_classes, e.arch, e.input_shape, e.num_classes
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A registry model resolved to a local file whose SHA-256 was checked.
#[derive(Clone, Debug)]
pub struct ResolvedModel {
    /// The local file (in the hub cache).
    pub path: PathBuf,
    /// Its registry entry.
    pub entry: ModelEntry,
    /// The file's SHA-256 (lower-case hex).
    pub sha256: String,
}

/// Resolves `model:<id>` through the registry in use ([`Registry::load_default`]); `None`
/// for any other spec.
pub fn resolve(spec: &str) -> Option<Result<ResolvedModel>> {
    let id = spec.strip_prefix(SPEC_PREFIX)?;
    Some(Registry::load_default().and_then(|r| r.get(id).and_then(resolve_entry)))
}

/// Downloads (or finds in the hub cache) the file of `entry` and checks its SHA-256 and
/// its format ([`check_format`]).
pub fn resolve_entry(entry: &ModelEntry) -> Result<ResolvedModel> {
    let path = hub::resolve(&entry.hub_file())?;
    let sha256 = verify_sha256(entry, &path, &hub::cache_dir())?;
    check_format(entry, &path)?;
    Ok(ResolvedModel {
        path,
        entry: entry.clone(),
        sha256,
    })
}

fn entry_error(entry: &ModelEntry, field: &str, reason: String) -> ModelError {
    ModelError::BadRegistry {
        registry: match std::env::var_os(REGISTRY_ENV).filter(|v| !v.is_empty()) {
            Some(p) => Path::new(&p).display().to_string(),
            None => EMBEDDED_NAME.to_string(),
        },
        place: format!("entry '{}', field '{field}'", entry.id),
        reason,
    }
}

/// Checks that the file at `path` is in the format `entry` says (`pth`: a `torch.save`
/// file, `safetensors`: anything else, which the reader then checks).
pub fn check_format(entry: &ModelEntry, path: &Path) -> Result<()> {
    let is_pth = crate::pth::sniff(path).is_some();
    let says_pth = entry.format == Format::Pth;
    if is_pth != says_pth {
        let (said, found) = if says_pth {
            (
                "pth",
                "not a torch.save file (a safetensors file, or another format)",
            )
        } else {
            ("safetensors", "a torch.save (.pth) file")
        };
        return Err(entry_error(
            entry,
            "format",
            format!(
                "it says '{said}', but its file {} is {found}",
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Checks that the checkpoint read from the file of `entry` has the classes `entry` says:
/// its head's weight (`fc.weight`, `classifier.weight`) has `num_classes` rows.
pub fn check_classes(entry: &ModelEntry, ckpt: &crate::checkpoint::LoadedCheckpoint) -> Result<()> {
    let head = format!("{}.weight", entry.arch.head_prefix());
    let rows = ckpt
        .tensors
        .get(&head)
        .and_then(|t| t.dims().first().copied());
    match rows {
        Some(n) if n != entry.num_classes => Err(entry_error(
            entry,
            "num_classes",
            format!(
                "it says {}, but the file's '{head}' has {n} rows: the model predicts {n} classes",
                entry.num_classes
            ),
        )),
        _ => Ok(()),
    }
}

/// Where the first resolve of `entry` records its file's digest, under the hub cache `cache`.
pub fn sha_record_path(cache: &Path, entry: &ModelEntry) -> PathBuf {
    cache
        .join(SHA_RECORD_DIR)
        .join(entry.repo.replace('/', "--"))
        .join(&entry.revision)
        .join(format!("{}.sha256", entry.file))
}

/// The SHA-256 of the file at `path` (lower-case hex), read in chunks.
pub fn file_sha256(path: &Path) -> Result<String> {
    Ok(unlearn_io::sha256_file(path, "model file")?)
}

/// Checks the file of `entry` at `path` against the registry's digest, else against the
/// digest recorded under `cache` (recording it on first use). Returns the file's digest.
pub fn verify_sha256(entry: &ModelEntry, path: &Path, cache: &Path) -> Result<String> {
    let actual = file_sha256(path)?;
    let mismatch = |expected_from: ShaSource, expected: String| ModelError::Sha256Mismatch {
        id: entry.id.clone(),
        path: path.to_path_buf(),
        digests: Box::new(ShaDigests {
            expected_from,
            expected,
            actual: actual.clone(),
        }),
    };
    if let Some(expected) = &entry.sha256 {
        if *expected != actual {
            return Err(mismatch(ShaSource::Registry, expected.clone()));
        }
        return Ok(actual);
    }
    let record = sha_record_path(cache, entry);
    let folder = record.parent().unwrap_or(cache);
    std::fs::create_dir_all(folder).map_err(|source| ModelError::Io {
        path: folder.to_path_buf(),
        source,
    })?;
    let lock_path = PathBuf::from(format!("{}.lock", record.display()));
    let _lock = unlearn_io::lock_exclusive(&lock_path)?;
    if record.exists() {
        let text = unlearn_io::read_regular_to_string(&record, "SHA-256 record", 4096)?;
        let expected = text
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if expected != actual {
            return Err(mismatch(ShaSource::Record(record.clone()), expected));
        }
    } else {
        let line = format!("{actual}  {}\n", entry.file);
        unlearn_io::write_atomic(&record, line.as_bytes())?;
    }
    Ok(actual)
}
