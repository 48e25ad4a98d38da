//! Feature bundles: the per-split features, logits and labels every metric reads.
//!
//! A bundle is stored as one `.safetensors` file (tensors `retain_features`,
//! `retain_logits`, `retain_labels`, the same for `forget_`, `test_` and
//! optionally `val_`, and optionally `triggered_logits` + `triggered_labels`;
//! the `__metadata__` string map is copied into [`FeatureBundle::metadata`]) or
//! one numpy `.npz` archive with the same array names. Features and logits may be
//! `f32` or `f64` (stored as `f32`), labels any integer dtype.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{MetricsError, Result};
use crate::matrix::Matrix;

mod npz;
use npz::NpzSource;

/// The split names a bundle may hold, in file order.
pub const SPLITS: [&str; 4] = ["retain", "forget", "test", "val"];

/// Features, logits and labels of one split.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitData {
    /// Penultimate features, `n × d` (not normalised; metrics normalise rows).
    pub features: Matrix<f32>,
    /// Logits, `n × classes`.
    pub logits: Matrix<f32>,
    /// True labels, length `n`.
    pub labels: Vec<u32>,
}

impl SplitData {
    /// Builds a split, checking that the three arrays agree on `n` and are finite.
    ///
    /// `name` (e.g. `"forget"`) is used in error messages.
    pub fn new(
        name: &str,
        features: Matrix<f32>,
        logits: Matrix<f32>,
        labels: Vec<u32>,
    ) -> Result<Self> {
        let s = Self {
            features,
            logits,
            labels,
        };
        s.validate(name)?;
        Ok(s)
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split has no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    fn validate(&self, name: &str) -> Result<()> {
        let n = self.features.rows();
        if self.logits.rows() != n {
            return Err(MetricsError::LengthMismatch {
                what: format!("{name}_logits rows vs {name}_features rows"),
                expected: n,
                found: self.logits.rows(),
            });
        }
        if self.labels.len() != n {
            return Err(MetricsError::LengthMismatch {
                what: format!("{name}_labels length vs {name}_features rows"),
                expected: n,
                found: self.labels.len(),
            });
        }
        check_finite(&format!("{name}_features"), &self.features)?;
        check_finite(&format!("{name}_logits"), &self.logits)?;
        check_labels(&format!("{name}_labels"), &self.labels, self.logits.cols())
    }
}

/// Logits of trigger-stamped test images (backdoor scenario) and their true labels.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggeredData {
    /// Logits, `n × classes`.
    pub logits: Matrix<f32>,
    /// True (pre-trigger) labels, length `n`.
    pub labels: Vec<u32>,
}

/// Everything the metrics need from one model: features, logits and labels per split.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBundle {
    /// The retain split (required).
    pub retain: SplitData,
    /// The forget split (required).
    pub forget: SplitData,
    /// The test split (required).
    pub test: SplitData,
    /// The validation split (optional).
    pub val: Option<SplitData>,
    /// Triggered test images for the backdoor scenario (optional).
    pub triggered: Option<TriggeredData>,
    /// Free-form provenance (model, scenario, seed, …), copied from/to `__metadata__`.
    pub metadata: BTreeMap<String, String>,
}

fn check_finite(name: &str, m: &Matrix<f32>) -> Result<()> {
    match m.first_non_finite() {
        Some(index) => Err(MetricsError::NonFinite {
            array: name.to_string(),
            index,
        }),
        None => Ok(()),
    }
}

fn check_labels(name: &str, labels: &[u32], classes: usize) -> Result<()> {
    if let Some(index) = labels.iter().position(|&l| l as usize >= classes) {
        return Err(MetricsError::LabelOutOfRange {
            array: name.to_string(),
            index,
            label: i64::from(labels[index]),
            classes,
        });
    }
    Ok(())
}

impl FeatureBundle {
    /// Builds a bundle and validates it (see [`FeatureBundle::validate`]).
    pub fn new(
        retain: SplitData,
        forget: SplitData,
        test: SplitData,
        val: Option<SplitData>,
        triggered: Option<TriggeredData>,
        metadata: BTreeMap<String, String>,
    ) -> Result<Self> {
        let b = Self {
            retain,
            forget,
            test,
            val,
            triggered,
            metadata,
        };
        b.validate()?;
        Ok(b)
    }

    /// The present splits with their names, in the order retain, forget, test, val.
    pub fn splits(&self) -> Vec<(&'static str, &SplitData)> {
        let mut v = vec![
            ("retain", &self.retain),
            ("forget", &self.forget),
            ("test", &self.test),
        ];
        if let Some(val) = &self.val {
            v.push(("val", val));
        }
        v
    }

    /// Number of classes (logit columns).
    pub fn classes(&self) -> usize {
        self.retain.logits.cols()
    }

    /// Feature dimension `d`.
    pub fn dim(&self) -> usize {
        self.retain.features.cols()
    }

    /// Checks every invariant the metrics rely on: per split, equal `n` across
    /// features/logits/labels; equal `d` and class count across splits; finite
    /// values; labels below the class count; at least one class and one feature
    /// column. Errors name the offending array.
    pub fn validate(&self) -> Result<()> {
        let d = self.dim();
        let c = self.classes();
        if d == 0 {
            return Err(MetricsError::BadShape {
                name: "retain_features".into(),
                shape: vec![self.retain.features.rows(), 0],
                expected: "at least one feature column".into(),
            });
        }
        if c == 0 {
            return Err(MetricsError::BadShape {
                name: "retain_logits".into(),
                shape: vec![self.retain.logits.rows(), 0],
                expected: "at least one class column".into(),
            });
        }
        for (name, s) in self.splits() {
            if s.features.cols() != d {
                return Err(MetricsError::WidthMismatch {
                    what: format!("{name}_features (vs retain_features)"),
                    expected: d,
                    found: s.features.cols(),
                });
            }
            if s.logits.cols() != c {
                return Err(MetricsError::WidthMismatch {
                    what: format!("{name}_logits (vs retain_logits)"),
                    expected: c,
                    found: s.logits.cols(),
                });
            }
            s.validate(name)?;
        }
        if let Some(t) = &self.triggered {
            if t.logits.cols() != c {
                return Err(MetricsError::WidthMismatch {
                    what: "triggered_logits (vs retain_logits)".into(),
                    expected: c,
                    found: t.logits.cols(),
                });
            }
            if t.labels.len() != t.logits.rows() {
                return Err(MetricsError::LengthMismatch {
                    what: "triggered_labels length vs triggered_logits rows".into(),
                    expected: t.logits.rows(),
                    found: t.labels.len(),
                });
            }
            check_finite("triggered_logits", &t.logits)?;
            check_labels("triggered_labels", &t.labels, c)?;
        }
        Ok(())
    }

    /// Loads a bundle, choosing the format from the extension (`.npz`, otherwise safetensors).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match path.extension().and_then(|e| e.to_str()) {
            Some("npz") => Self::load_npz(path),
            _ => Self::load_safetensors(path),
        }
    }

    /// The provenance metadata of a features file without reading its arrays: the
    /// safetensors `__metadata__` (an `.npz` file has none: an empty map).
    pub fn read_metadata(path: impl AsRef<Path>) -> Result<BTreeMap<String, String>> {
        let path = path.as_ref();
        if path.extension().and_then(|e| e.to_str()) == Some("npz") {
            unlearn_io::open_regular(path, "features file")?;
            return Ok(BTreeMap::new());
        }
        let bad = |reason: String| MetricsError::Format {
            path: path.to_path_buf(),
            reason,
        };
        let io = |source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let (file, size) = unlearn_io::open_regular(path, "features file")?;
        let mut reader = std::io::BufReader::new(file);
        let mut len = [0u8; 8];
        let got = size.min(8) as usize;
        std::io::Read::read_exact(&mut reader, &mut len[..got]).map_err(io)?;
        if let Some(why) = unlearn_io::safetensors_header_problem(&len[..got], size) {
            return Err(bad(why));
        }
        let header_len = unlearn_io::safetensors_header_len(&len);
        let mut header = vec![0u8; header_len as usize];
        std::io::Read::read_exact(&mut reader, &mut header).map_err(io)?;
        let value: serde_json::Value = serde_json::from_slice(&header)
            .map_err(|e| bad(format!("the safetensors header is not JSON ({e})")))?;
        Ok(value
            .get("__metadata__")
            .and_then(|m| m.as_object())
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Loads a bundle from a `.safetensors` file and validates it.
    pub fn load_safetensors(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = unlearn_io::read_regular(path, "features file", u64::MAX)?;
        let fmt = |e: safetensors::SafeTensorError| MetricsError::Format {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(fmt)?;
        let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(fmt)?;
        let metadata: BTreeMap<String, String> = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let mut src = SafetensorsSource {
            path: path.to_path_buf(),
            st,
        };
        let mut b = assemble(&mut src)?;
        b.metadata = metadata;
        b.validate()?;
        Ok(b)
    }

    /// Loads a bundle from a numpy `.npz` archive and validates it.
    pub fn load_npz(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        unlearn_io::open_regular(path, "features file")?;
        let archive = npyz::npz::NpzArchive::open(path).map_err(|source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut src = NpzSource {
            path: path.to_path_buf(),
            archive,
        };
        let b = assemble(&mut src)?;
        b.validate()?;
        Ok(b)
    }

    fn named_arrays(&self) -> Vec<(String, RawArray)> {
        let mut out = Vec::new();
        for (name, s) in self.splits() {
            out.push((
                format!("{name}_features"),
                RawArray::from_matrix(&s.features),
            ));
            out.push((format!("{name}_logits"), RawArray::from_matrix(&s.logits)));
            out.push((format!("{name}_labels"), RawArray::from_labels(&s.labels)));
        }
        if let Some(t) = &self.triggered {
            out.push(("triggered_logits".into(), RawArray::from_matrix(&t.logits)));
            out.push(("triggered_labels".into(), RawArray::from_labels(&t.labels)));
        }
        out
    }

    /// Writes the bundle as `.safetensors`, atomically (a temporary file in the same
    /// directory, synced, then renamed over `path`).
    ///
    /// The header's `__metadata__` is the bundle's own metadata overlaid with
    /// `metadata` (entries of `metadata` win). Features and logits are stored as
    /// `F32`, labels as `I64` (PyTorch's label dtype).
    pub fn save_safetensors(
        &self,
        path: impl AsRef<Path>,
        metadata: &BTreeMap<String, String>,
    ) -> Result<()> {
        let path = path.as_ref();
        self.validate()?;
        let arrays = self.named_arrays();
        let mut views = Vec::with_capacity(arrays.len());
        for (name, a) in &arrays {
            let view = safetensors::tensor::TensorView::new(a.dtype, a.shape.clone(), &a.bytes)
                .map_err(|e| MetricsError::Format {
                    path: path.to_path_buf(),
                    reason: format!("building tensor {name}: {e}"),
                })?;
            views.push((name.clone(), view));
        }
        let mut meta: HashMap<String, String> = self
            .metadata
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (k, v) in metadata {
            meta.insert(k.clone(), v.clone());
        }
        let bytes =
            safetensors::serialize(views, Some(meta)).map_err(|e| MetricsError::Format {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        write_atomic(path, |f| f.write_all(&bytes))
    }

    /// Writes the bundle as a numpy `.npz` archive (features/logits `<f4`, labels `<i8`),
    /// atomically. Metadata is not stored (npz has no place for it).
    pub fn save_npz(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        self.validate()?;
        let arrays = self.named_arrays();
        write_atomic(path, |f| {
            let mut npz = npyz::npz::NpzWriter::new(std::io::BufWriter::new(f));
            for (name, a) in &arrays {
                let shape: Vec<u64> = a.shape.iter().map(|&s| s as u64).collect();
                if a.dtype == safetensors::Dtype::I64 {
                    let vals: Vec<i64> = a
                        .bytes
                        .chunks_exact(8)
                        .map(|c| {
                            i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]])
                        })
                        .collect();
                    write_npz_array(&mut npz, name, &shape, vals)?;
                } else {
                    let vals: Vec<f32> = a
                        .bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect();
                    write_npz_array(&mut npz, name, &shape, vals)?;
                }
            }
            let mut w = npz
                .zip_writer()
                .finish()
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            w.flush()
        })
    }
}

fn write_npz_array<W, T>(
    npz: &mut npyz::npz::NpzWriter<W>,
    name: &str,
    shape: &[u64],
    vals: Vec<T>,
) -> std::io::Result<()>
where
    W: std::io::Write + std::io::Seek,
    T: npyz::AutoSerialize,
{
    use npyz::WriterBuilder;
    let mut w = npz
        .array::<T>(name, Default::default())?
        .default_dtype()
        .shape(shape)
        .begin_nd()?;
    w.extend(vals)?;
    w.finish()
}

fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut fs::File) -> std::io::Result<()>,
) -> Result<()> {
    Ok(unlearn_io::write_atomic_with(path, write)?)
}

/// An array as raw little-endian bytes ready for serialisation.
struct RawArray {
    dtype: safetensors::Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl RawArray {
    fn from_matrix(m: &Matrix<f32>) -> Self {
        Self {
            dtype: safetensors::Dtype::F32,
            shape: vec![m.rows(), m.cols()],
            bytes: m.data().iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
    fn from_labels(l: &[u32]) -> Self {
        Self {
            dtype: safetensors::Dtype::I64,
            shape: vec![l.len()],
            bytes: l.iter().flat_map(|&v| i64::from(v).to_le_bytes()).collect(),
        }
    }
}

/// Decoded array content before role-specific conversion.
enum Loaded {
    Float { shape: Vec<usize>, data: Vec<f32> },
    Int { shape: Vec<usize>, data: Vec<i64> },
}

/// A source of named arrays (safetensors or npz).
trait ArraySource {
    fn path(&self) -> &Path;
    fn names(&self) -> Vec<String>;
    /// `Ok(None)` when absent.
    fn get(&mut self, name: &str) -> Result<Option<Loaded>>;
}

fn missing(src: &dyn ArraySource, name: &str) -> MetricsError {
    let mut available = src.names();
    available.sort();
    MetricsError::MissingArray {
        name: name.to_string(),
        path: src.path().to_path_buf(),
        available,
    }
}

fn get_matrix(src: &mut dyn ArraySource, name: &str) -> Result<Option<Matrix<f32>>> {
    match src.get(name)? {
        None => Ok(None),
        Some(Loaded::Float { shape, data }) => {
            if shape.len() != 2 {
                return Err(MetricsError::BadShape {
                    name: name.to_string(),
                    shape,
                    expected: "2 dimensions (n × width)".into(),
                });
            }
            Matrix::new(shape[0], shape[1], data).map(Some)
        }
        Some(Loaded::Int { .. }) => Err(MetricsError::BadDtype {
            name: name.to_string(),
            dtype: "integer".into(),
            expected: "f32 or f64".into(),
        }),
    }
}

fn get_labels(src: &mut dyn ArraySource, name: &str) -> Result<Option<Vec<u32>>> {
    match src.get(name)? {
        None => Ok(None),
        Some(Loaded::Int { shape, data }) => {
            if shape.len() != 1 {
                return Err(MetricsError::BadShape {
                    name: name.to_string(),
                    shape,
                    expected: "1 dimension (n)".into(),
                });
            }
            let mut out = Vec::with_capacity(data.len());
            for (index, &v) in data.iter().enumerate() {
                match u32::try_from(v) {
                    Ok(u) => out.push(u),
                    Err(_) => {
                        return Err(MetricsError::LabelOutOfRange {
                            array: name.to_string(),
                            index,
                            label: v,
                            classes: 0,
                        })
                    }
                }
            }
            Ok(Some(out))
        }
        Some(Loaded::Float { .. }) => Err(MetricsError::BadDtype {
            name: name.to_string(),
            dtype: "float".into(),
            expected: "an integer dtype".into(),
        }),
    }
}

fn get_split(src: &mut dyn ArraySource, split: &str, required: bool) -> Result<Option<SplitData>> {
    let fname = format!("{split}_features");
    let lname = format!("{split}_logits");
    let yname = format!("{split}_labels");
    let f = get_matrix(src, &fname)?;
    let l = get_matrix(src, &lname)?;
    let y = get_labels(src, &yname)?;
    match (f, l, y) {
        (Some(f), Some(l), Some(y)) => Ok(Some(SplitData {
            features: f,
            logits: l,
            labels: y,
        })),
        (None, None, None) if !required => Ok(None),
        (f, l, _) => {
            let name = if f.is_none() {
                fname
            } else if l.is_none() {
                lname
            } else {
                yname
            };
            Err(missing(src, &name))
        }
    }
}

fn assemble(src: &mut dyn ArraySource) -> Result<FeatureBundle> {
    let retain = get_split(src, "retain", true)?.ok_or_else(|| missing(src, "retain_features"))?;
    let forget = get_split(src, "forget", true)?.ok_or_else(|| missing(src, "forget_features"))?;
    let test = get_split(src, "test", true)?.ok_or_else(|| missing(src, "test_features"))?;
    let val = get_split(src, "val", false)?;
    let tl = get_matrix(src, "triggered_logits")?;
    let ty = get_labels(src, "triggered_labels")?;
    let triggered = match (tl, ty) {
        (Some(logits), Some(labels)) => Some(TriggeredData { logits, labels }),
        (None, None) => None,
        (None, Some(_)) => return Err(missing(src, "triggered_logits")),
        (Some(_), None) => return Err(missing(src, "triggered_labels")),
    };
    Ok(FeatureBundle {
        retain,
        forget,
        test,
        val,
        triggered,
        metadata: BTreeMap::new(),
    })
}

struct SafetensorsSource<'a> {
    path: PathBuf,
    st: safetensors::SafeTensors<'a>,
}

impl ArraySource for SafetensorsSource<'_> {
    fn path(&self) -> &Path {
        &self.path
    }
    fn names(&self) -> Vec<String> {
        self.st.names().into_iter().map(str::to_string).collect()
    }
    fn get(&mut self, name: &str) -> Result<Option<Loaded>> {
        use safetensors::Dtype as D;
        let view = match self.st.tensor(name) {
            Ok(v) => v,
            Err(safetensors::SafeTensorError::TensorNotFound(_)) => return Ok(None),
            Err(e) => {
                return Err(MetricsError::Format {
                    path: self.path.clone(),
                    reason: format!("tensor {name}: {e}"),
                })
            }
        };
        let shape = view.shape().to_vec();
        let b = view.data();
        macro_rules! ints {
            ($t:ty, $n:expr) => {
                Loaded::Int {
                    shape,
                    data: b
                        .chunks_exact($n)
                        .map(|c| {
                            let mut a = [0u8; $n];
                            a.copy_from_slice(c);
                            <$t>::from_le_bytes(a) as i64
                        })
                        .collect(),
                }
            };
        }
        let loaded = match view.dtype() {
            D::F32 => Loaded::Float {
                shape,
                data: b
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            },
            D::F64 => Loaded::Float {
                shape,
                data: b
                    .chunks_exact(8)
                    .map(|c| {
                        f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32
                    })
                    .collect(),
            },
            D::I8 => ints!(i8, 1),
            D::U8 => ints!(u8, 1),
            D::I16 => ints!(i16, 2),
            D::U16 => ints!(u16, 2),
            D::I32 => ints!(i32, 4),
            D::U32 => ints!(u32, 4),
            D::I64 => ints!(i64, 8),
            D::U64 => {
                let mut data = Vec::with_capacity(b.len() / 8);
                for c in b.chunks_exact(8) {
                    let mut a = [0u8; 8];
                    a.copy_from_slice(c);
                    // Values above i64::MAX become -1 and are rejected as labels later.
                    data.push(i64::try_from(u64::from_le_bytes(a)).unwrap_or(-1));
                }
                Loaded::Int { shape, data }
            }
            other => {
                return Err(MetricsError::BadDtype {
                    name: name.to_string(),
                    dtype: format!("{other:?}"),
                    expected: "F32/F64 for features and logits, an integer dtype for labels".into(),
                })
            }
        };
        Ok(Some(loaded))
    }
}
