//! Forget-set scenarios, train/val/retain/forget splits and their manifests.
//!
//! A split is fully determined by the dataset's fingerprint, the [`Scenario`] and the seed:
//!
//! 1. **val**: stratified and seeded — for each class, `round(val_fraction × class count)`
//!    indices of the official training set drawn from `rng::seeded(seed, "split/val")`
//!    (classes in order, one stream). It depends only on the dataset and the seed, so every
//!    scenario with the same seed has the same validation set.
//! 2. **train** = the rest of the official training set (= retain ∪ forget).
//! 3. **forget**, from train: `random:p` — `round(p × |train|)` indices drawn uniformly
//!    (`"split/forget/random"`); `class:c,…` — every train sample of those classes;
//!    `backdoor:p` — `round(p × |train|)` indices drawn uniformly among train samples whose
//!    label is not the target (`"split/forget/backdoor"`), which are the poisoned ones.
//! 4. **retain** = train \ forget; **test** = the whole official test set.
//!
//! The result is a [`SplitManifest`]: all lists sorted ascending, each with its SHA-256, and
//! the dataset's identity. [`SplitManifest::load`] re-checks everything, so a hand-edited
//! manifest is rejected rather than silently used.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::image::ImageSet;
use crate::rng;

pub use crate::npy::read_npy_indices;
pub use crate::scenario::{
    BackdoorSpec, Scenario, DEFAULT_BACKDOOR_FRACTION, DEFAULT_RANDOM_FRACTION,
};

/// Version of the manifest format written by this crate.
pub const MANIFEST_FORMAT_VERSION: u32 = 1;

/// How to split a dataset.
#[derive(Clone, Debug)]
pub struct SplitConfig {
    /// Which samples to forget.
    pub scenario: Scenario,
    /// Seed of every random choice of the split.
    pub seed: u64,
    /// Share of each class of the official training set held out for validation, in [0, 1).
    pub val_fraction: f64,
}

impl Default for SplitConfig {
    /// `random:0.1`, seed 0, 10% validation.
    fn default() -> Self {
        SplitConfig {
            scenario: Scenario::Random {
                fraction: DEFAULT_RANDOM_FRACTION,
            },
            seed: 0,
            val_fraction: 0.1,
        }
    }
}

/// The dataset a manifest was made for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DatasetRef {
    /// Dataset name.
    pub name: String,
    /// Data source string.
    pub source: String,
    /// Content fingerprint.
    pub fingerprint: String,
    /// Size of the official training set.
    pub num_train: usize,
    /// Size of the official test set.
    pub num_test: usize,
    /// Number of classes.
    pub num_classes: usize,
    /// `[C, H, W]`.
    pub input_shape: [usize; 3],
}

impl DatasetRef {
    /// The reference to `ds`.
    pub fn of(ds: &Dataset) -> Self {
        DatasetRef {
            name: ds.name.clone(),
            source: ds.source.to_string(),
            fingerprint: ds.fingerprint.clone(),
            num_train: ds.train.len(),
            num_test: ds.test.len(),
            num_classes: ds.num_classes,
            input_shape: ds.input_shape(),
        }
    }
}

/// SHA-256 (hex) of each index list, as little-endian `u32` bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ListHashes {
    /// Of `train`.
    pub train: String,
    /// Of `val`.
    pub val: String,
    /// Of `retain`.
    pub retain: String,
    /// Of `forget`.
    pub forget: String,
    /// Of `test`.
    pub test: String,
}

/// SHA-256 (hex) of an index list as little-endian `u32` bytes.
pub fn list_hash(list: &[u32]) -> String {
    let mut h = Sha256::new();
    for v in list {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

impl ListHashes {
    fn compute(train: &[u32], val: &[u32], retain: &[u32], forget: &[u32], test: &[u32]) -> Self {
        ListHashes {
            train: list_hash(train),
            val: list_hash(val),
            retain: list_hash(retain),
            forget: list_hash(forget),
            test: list_hash(test),
        }
    }
}

/// A split written to disk: everything a method or metric needs to agree on which samples
/// are which.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SplitManifest {
    /// [`MANIFEST_FORMAT_VERSION`] at writing time.
    pub format_version: u32,
    /// The dataset the indices refer to.
    pub dataset: DatasetRef,
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// Validation share per class.
    pub val_fraction: f64,
    /// Official-training indices used for training: retain ∪ forget, ascending.
    pub train: Vec<u32>,
    /// Held-out validation indices (official training set), ascending.
    pub val: Vec<u32>,
    /// Retain indices (official training set), ascending.
    pub retain: Vec<u32>,
    /// Forget indices (official training set), ascending.
    pub forget: Vec<u32>,
    /// Test indices (official test set, all of it), ascending.
    pub test: Vec<u32>,
    /// SHA-256 of each list.
    pub sha256: ListHashes,
}

fn check_val_fraction(v: f64) -> Result<()> {
    if v.is_finite() && (0.0..1.0).contains(&v) {
        Ok(())
    } else {
        Err(DataError::FractionOutOfRange {
            what: "val_fraction".to_string(),
            value: v,
            expected: "0 <= val_fraction < 1".to_string(),
        })
    }
}

/// Round half away from zero, as a count.
fn count_of(fraction: f64, n: usize) -> usize {
    (fraction * n as f64).round() as usize
}

/// Stratified seeded validation draw among `candidates` (ascending), `round(val_fraction ×
/// class size)` per class where class sizes are those of the whole training set, capped at
/// the candidates available.
fn draw_val(ds: &Dataset, candidates: &[u32], seed: u64, val_fraction: f64) -> Vec<u32> {
    let counts = ds.train.class_counts(ds.num_classes);
    let mut per_class: Vec<Vec<u32>> = vec![Vec::new(); ds.num_classes];
    for &i in candidates {
        if let Some(v) = per_class.get_mut(ds.train.labels[i as usize] as usize) {
            v.push(i);
        }
    }
    let mut rng = rng::seeded(seed, "split/val");
    let mut val = Vec::new();
    for (c, members) in per_class.iter().enumerate() {
        let k = count_of(val_fraction, counts[c]).min(members.len());
        let mut picked = rng::shuffled(members, &mut rng);
        picked.truncate(k);
        val.extend(picked);
    }
    val.sort_unstable();
    val
}

fn difference(all: &[u32], remove: &[u32]) -> Vec<u32> {
    // Both sorted ascending.
    let mut out = Vec::with_capacity(all.len().saturating_sub(remove.len()));
    let mut j = 0;
    for &v in all {
        while j < remove.len() && remove[j] < v {
            j += 1;
        }
        if j < remove.len() && remove[j] == v {
            continue;
        }
        out.push(v);
    }
    out
}

/// The largest split manifest read (1 GiB: a manifest of 50 million indices is about 500
/// MB of JSON).
pub const MAX_MANIFEST_BYTES: u64 = 1 << 30;

/// Build the split of `ds` described by `cfg`.
///
/// Errors when the scenario or `val_fraction` is invalid for the dataset, when the forget
/// or retain set would be empty, or for [`Scenario::Imported`] (use
/// [`SplitManifest::from_forget_indices`]).
pub fn make_split(ds: &Dataset, cfg: &SplitConfig) -> Result<SplitManifest> {
    cfg.scenario.validate(ds.num_classes)?;
    check_val_fraction(cfg.val_fraction)?;
    let bad = |reason: String| DataError::InvalidScenario {
        spec: cfg.scenario.to_string(),
        reason,
    };
    let all: Vec<u32> = (0..ds.train.len() as u32).collect();
    let val = draw_val(ds, &all, cfg.seed, cfg.val_fraction);
    let train = difference(&all, &val);
    let labels = &ds.train.labels;
    let forget = match &cfg.scenario {
        Scenario::Random { fraction } => {
            let k = count_of(*fraction, train.len());
            let mut rng = rng::seeded(cfg.seed, "split/forget/random");
            rng::sample_sorted(&train, k, &mut rng).unwrap_or_default()
        }
        Scenario::Class { classes } => train
            .iter()
            .copied()
            .filter(|&i| classes.contains(&labels[i as usize]))
            .collect(),
        Scenario::Backdoor(spec) => {
            let [_, h, w] = ds.input_shape();
            if spec.trigger_size > h.min(w) {
                return Err(bad(format!(
                    "trigger size {} does not fit in {h}x{w} images",
                    spec.trigger_size
                )));
            }
            let eligible: Vec<u32> = train
                .iter()
                .copied()
                .filter(|&i| labels[i as usize] != spec.target)
                .collect();
            let k = count_of(spec.fraction, train.len());
            let mut rng = rng::seeded(cfg.seed, "split/forget/backdoor");
            rng::sample_sorted(&eligible, k, &mut rng).ok_or_else(|| {
                bad(format!(
                    "{k} samples to poison but only {} training samples are not of the target class",
                    eligible.len()
                ))
            })?
        }
        Scenario::Imported { .. } => {
            return Err(bad(
                "an imported forget set needs its indices: use SplitManifest::from_forget_indices"
                    .into(),
            ))
        }
    };
    SplitManifest::assemble(
        ds,
        cfg.scenario.clone(),
        cfg.seed,
        cfg.val_fraction,
        train,
        val,
        forget,
    )
}

fn check_sorted_unique(list: &[u32], what: &str, bound: usize) -> std::result::Result<(), String> {
    for w in list.windows(2) {
        if w[0] >= w[1] {
            return Err(format!(
                "`{what}` is not strictly ascending ({} then {})",
                w[0], w[1]
            ));
        }
    }
    if let Some(&last) = list.last() {
        if last as usize >= bound {
            return Err(format!(
                "`{what}` index {last} is out of range (< {bound} expected)"
            ));
        }
    }
    Ok(())
}

fn is_disjoint(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return false,
        }
    }
    true
}

impl SplitManifest {
    /// What a model's weights depend on, besides its recipe and seed: the training list's
    /// SHA-256, plus the scenario when it poisons images (backdoor). Two splits of one
    /// training set with the same identity can share an original model.
    pub fn train_identity(&self) -> String {
        if self.scenario.backdoor().is_some() {
            format!("{}/{}", self.sha256.train, self.scenario)
        } else {
            self.sha256.train.clone()
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        ds: &Dataset,
        scenario: Scenario,
        seed: u64,
        val_fraction: f64,
        train: Vec<u32>,
        val: Vec<u32>,
        forget: Vec<u32>,
    ) -> Result<Self> {
        let spec = scenario.to_string();
        if forget.is_empty() {
            return Err(DataError::InvalidScenario {
                spec,
                reason: format!(
                    "the forget set would be empty ({} training samples)",
                    train.len()
                ),
            });
        }
        let retain = difference(&train, &forget);
        if retain.is_empty() {
            return Err(DataError::InvalidScenario {
                spec,
                reason: "the retain set would be empty".into(),
            });
        }
        let test: Vec<u32> = (0..ds.test.len() as u32).collect();
        let sha256 = ListHashes::compute(&train, &val, &retain, &forget, &test);
        let m = SplitManifest {
            format_version: MANIFEST_FORMAT_VERSION,
            dataset: DatasetRef::of(ds),
            scenario,
            seed,
            val_fraction,
            train,
            val,
            retain,
            forget,
            test,
            sha256,
        };
        m.verify()?;
        Ok(m)
    }

    /// A manifest whose forget set is given as indices into the official training set
    /// (e.g. from [`read_npy_indices`]). The scenario is [`Scenario::Imported`]; val is drawn
    /// as by [`make_split`] but excluding the forget indices; train is everything else.
    pub fn from_forget_indices(
        ds: &Dataset,
        forget: &[u32],
        seed: u64,
        val_fraction: f64,
    ) -> Result<Self> {
        check_val_fraction(val_fraction)?;
        let n = ds.train.len();
        let mut sorted = forget.to_vec();
        sorted.sort_unstable();
        for w in sorted.windows(2) {
            if w[0] == w[1] {
                return Err(DataError::InvalidIndices {
                    what: "forget indices".into(),
                    reason: format!("index {} appears more than once", w[0]),
                });
            }
        }
        if let Some(&last) = sorted.last() {
            if last as usize >= n {
                return Err(DataError::InvalidIndices {
                    what: "forget indices".into(),
                    reason: format!(
                        "index {last} is out of range for a training set of {n} images"
                    ),
                });
            }
        }
        if sorted.is_empty() {
            return Err(DataError::InvalidIndices {
                what: "forget indices".into(),
                reason: "the list is empty".into(),
            });
        }
        let all: Vec<u32> = (0..n as u32).collect();
        let candidates = difference(&all, &sorted);
        let val = draw_val(ds, &candidates, seed, val_fraction);
        let train = difference(&all, &val);
        let hash = list_hash(&sorted);
        let scenario = Scenario::Imported {
            sha256: hash[..12].to_string(),
            count: sorted.len(),
        };
        Self::assemble(ds, scenario, seed, val_fraction, train, val, sorted)
    }

    /// Check the manifest's internal consistency: format version, every list strictly
    /// ascending and in range, every hash, retain ∩ forget = ∅, retain ∪ forget = train,
    /// val ∩ train = ∅, test = the whole test set, a valid scenario.
    pub fn verify(&self) -> Result<()> {
        self.verify_at(Path::new("<in memory>"))
    }

    fn verify_at(&self, path: &Path) -> Result<()> {
        let err = |reason: String| DataError::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        if self.format_version != MANIFEST_FORMAT_VERSION {
            return Err(err(format!(
                "format_version {} is not supported (expected {MANIFEST_FORMAT_VERSION})",
                self.format_version
            )));
        }
        let d = &self.dataset;
        let lists: [(&str, &[u32], &String, usize); 5] = [
            ("train", &self.train, &self.sha256.train, d.num_train),
            ("val", &self.val, &self.sha256.val, d.num_train),
            ("retain", &self.retain, &self.sha256.retain, d.num_train),
            ("forget", &self.forget, &self.sha256.forget, d.num_train),
            ("test", &self.test, &self.sha256.test, d.num_test),
        ];
        for (name, list, recorded, bound) in lists {
            let actual = list_hash(list);
            if &actual != recorded {
                return Err(err(format!(
                    "SHA-256 of the `{name}` list is {actual} but the manifest records {recorded}: \
                     the list was edited or the file is corrupt"
                )));
            }
            check_sorted_unique(list, name, bound).map_err(err)?;
        }
        if !is_disjoint(&self.retain, &self.forget) {
            return Err(err("`retain` and `forget` overlap".into()));
        }
        if self.retain.len() + self.forget.len() != self.train.len()
            || !difference(&self.train, &self.retain)
                .iter()
                .eq(self.forget.iter())
        {
            return Err(err("`retain` ∪ `forget` differs from `train`".into()));
        }
        if !is_disjoint(&self.val, &self.train) {
            return Err(err("`val` and `train` overlap".into()));
        }
        if self.test.len() != d.num_test {
            return Err(err(format!(
                "`test` holds {} indices; expected the whole test set ({})",
                self.test.len(),
                d.num_test
            )));
        }
        if self.forget.is_empty() || self.retain.is_empty() {
            return Err(err("`forget` and `retain` must both be non-empty".into()));
        }
        check_val_fraction(self.val_fraction).map_err(|e| err(e.to_string()))?;
        self.scenario
            .validate(d.num_classes)
            .map_err(|e| err(e.to_string()))?;
        if let Scenario::Imported { sha256, count } = &self.scenario {
            if !self.sha256.forget.starts_with(sha256.as_str()) || *count != self.forget.len() {
                return Err(err(format!(
                    "scenario `{}` does not describe the forget list ({} indices, SHA-256 {})",
                    self.scenario,
                    self.forget.len(),
                    self.sha256.forget
                )));
            }
        }
        Ok(())
    }

    /// Write as pretty JSON, atomically (a temporary file in the same directory, then a
    /// rename). Creates the parent directory if needed.
    pub fn save(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self).map_err(|e| DataError::Manifest {
            path: path.into(),
            reason: format!("serialising: {e}"),
        })?;
        unlearn_io::write_atomic_with(path, |f| {
            f.write_all(json.as_bytes())?;
            f.write_all(b"\n")
        })?;
        Ok(())
    }

    /// Read a manifest and [`verify`](Self::verify) it.
    pub fn load(path: &Path) -> Result<Self> {
        let text = unlearn_io::read_regular_to_string(path, "split manifest", MAX_MANIFEST_BYTES)?;
        let m: SplitManifest = serde_json::from_str(&text).map_err(|e| DataError::Manifest {
            path: path.into(),
            reason: format!("not a valid split manifest: {e}"),
        })?;
        m.verify_at(path)?;
        Ok(m)
    }

    /// Check that the manifest was made for `ds`: same fingerprint, sizes, classes and input
    /// shape, and every index in range.
    pub fn check_dataset(&self, ds: &Dataset) -> Result<()> {
        let d = &self.dataset;
        let mismatch = |what: &str, expected: String, found: String| DataError::DatasetMismatch {
            expected: format!(
                "{what} {expected} (manifest made for `{}` from {})",
                d.name, d.source
            ),
            found: format!("{what} {found} (dataset `{}` from {})", ds.name, ds.source),
        };
        if d.fingerprint != ds.fingerprint {
            return Err(mismatch(
                "fingerprint",
                d.fingerprint.clone(),
                ds.fingerprint.clone(),
            ));
        }
        if d.num_train != ds.train.len() || d.num_test != ds.test.len() {
            return Err(mismatch(
                "train/test sizes",
                format!("{}/{}", d.num_train, d.num_test),
                format!("{}/{}", ds.train.len(), ds.test.len()),
            ));
        }
        if d.num_classes != ds.num_classes {
            return Err(mismatch(
                "classes",
                d.num_classes.to_string(),
                ds.num_classes.to_string(),
            ));
        }
        if d.input_shape != ds.input_shape() {
            return Err(mismatch(
                "input shape",
                format!("{:?}", d.input_shape),
                format!("{:?}", ds.input_shape()),
            ));
        }
        for (name, list, bound) in [
            ("train", &self.train, ds.train.len()),
            ("val", &self.val, ds.train.len()),
            ("retain", &self.retain, ds.train.len()),
            ("forget", &self.forget, ds.train.len()),
            ("test", &self.test, ds.test.len()),
        ] {
            if let Some(&bad) = list.iter().find(|&&i| i as usize >= bound) {
                return Err(mismatch(
                    &format!("`{name}` index range"),
                    format!("< {bound}"),
                    bad.to_string(),
                ));
            }
        }
        Ok(())
    }

    /// Why the scenario does not describe the forget list, if it does not: `random:p` and
    /// `backdoor:p` forget `round(p × |train|)` samples (backdoor: none of the target
    /// class), `class:c` forgets exactly the training samples of those classes. Call after
    /// [`check_dataset`](Self::check_dataset) (labels are read from `ds`).
    pub fn scenario_mismatch(&self, ds: &Dataset) -> Option<String> {
        let labels = &ds.train.labels;
        let label = |i: u32| labels.get(i as usize).copied();
        let expected_count = |fraction: f64| count_of(fraction, self.train.len());
        match &self.scenario {
            Scenario::Random { fraction } => {
                let k = expected_count(*fraction);
                (self.forget.len() != k).then(|| {
                    format!(
                        "it holds {} indices, but {fraction} of the {} training samples is {k}",
                        self.forget.len(),
                        self.train.len()
                    )
                })
            }
            Scenario::Class { classes } => {
                let expected: Vec<u32> = self
                    .train
                    .iter()
                    .copied()
                    .filter(|&i| label(i).is_some_and(|l| classes.contains(&l)))
                    .collect();
                (expected != self.forget).then(|| {
                    let foreign = self
                        .forget
                        .iter()
                        .filter(|&&i| !label(i).is_some_and(|l| classes.contains(&l)))
                        .count();
                    format!(
                        "it holds {} indices ({foreign} of other classes), but the training list has {} samples of those classes",
                        self.forget.len(),
                        expected.len()
                    )
                })
            }
            Scenario::Backdoor(spec) => {
                let k = expected_count(spec.fraction);
                let of_target = self
                    .forget
                    .iter()
                    .filter(|&&i| label(i) == Some(spec.target))
                    .count();
                if self.forget.len() != k {
                    Some(format!(
                        "it holds {} indices, but {} of the {} training samples is {k}",
                        self.forget.len(),
                        spec.fraction,
                        self.train.len()
                    ))
                } else if of_target > 0 {
                    Some(format!(
                        "{of_target} of its samples are already of the target class {}",
                        spec.target
                    ))
                } else {
                    None
                }
            }
            Scenario::Imported { .. } => None,
        }
    }

    /// SHA-256 (hex) of the manifest's compact canonical JSON; names artefacts made from it.
    pub fn content_hash(&self) -> String {
        // Serialising plain structs, strings, numbers and vectors cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }

    /// The training images as the original model sees them: for a backdoor scenario, a copy of
    /// `ds.train` with the forget samples stamped with the trigger and relabelled to the
    /// target; otherwise a clone of `ds.train`. Forget indices out of range of `ds` are
    /// ignored (call [`check_dataset`](Self::check_dataset) first).
    pub fn poisoned_train(&self, ds: &Dataset) -> ImageSet {
        let mut set = ds.train.clone();
        if let Some(spec) = self.scenario.backdoor() {
            let n = set.image_len();
            let (c, h, w) = (set.channels, set.height, set.width);
            for &i in &self.forget {
                let i = i as usize;
                if i >= set.len() {
                    continue;
                }
                stamp_trigger(&mut set.images[i * n..(i + 1) * n], c, h, w, spec);
                set.labels[i] = spec.target;
            }
        }
        set
    }
}

/// Stamp the backdoor trigger into one image (CHW bytes): a `trigger_size`-pixel square in
/// the bottom-right corner, every channel set to `trigger_value`. A trigger larger than the
/// image is clipped; pixels beyond `image.len()` are left alone.
pub fn stamp_trigger(
    image: &mut [u8],
    channels: usize,
    height: usize,
    width: usize,
    spec: &BackdoorSpec,
) {
    let s = spec.trigger_size.min(height).min(width);
    for c in 0..channels {
        for y in height - s..height {
            for x in width - s..width {
                if let Some(p) = image.get_mut((c * height + y) * width + x) {
                    *p = spec.trigger_value;
                }
            }
        }
    }
}

/// The test images whose true label is not the target, stamped with the trigger, for the
/// attack success rate. Returns the stamped set (labels = true labels) and the test indices
/// of its images.
pub fn triggered_test(ds: &Dataset, spec: &BackdoorSpec) -> (ImageSet, Vec<u32>) {
    let indices: Vec<u32> = (0..ds.test.len() as u32)
        .filter(|&i| ds.test.labels[i as usize] != spec.target)
        .collect();
    let mut set = ds.test.subset(&indices);
    let n = set.image_len();
    let (c, h, w) = (set.channels, set.height, set.width);
    for img in set.images.chunks_exact_mut(n.max(1)) {
        stamp_trigger(img, c, h, w, spec);
    }
    (set, indices)
}
