//! Parquet shards in the Hugging Face layout: an image column (the `Image` feature, a struct
//! `{bytes, path}` of PNG/JPEG bytes, or a plain binary column) and an integer label column.
//!
//! Splits come from the shard names (`train-00000-of-00002.parquet`, or a `train/` folder as
//! in a repository's `refs/convert/parquet` branch); `validation` stands in for a missing
//! `test`. Class names come from the `ClassLabel` feature that `datasets` records in the
//! schema's `huggingface` metadata, else the labels are named by their values `0..=max`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::Type;

use crate::decode::{Item, Payload};
use crate::error::{DataError, Result};

/// The columns to read (`None`: detect).
#[derive(Clone, Debug, Default)]
pub(crate) struct Columns {
    /// The image column.
    pub image: Option<String>,
    /// The label column.
    pub label: Option<String>,
}

/// The split a shard belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Split {
    Train,
    Test,
    Validation,
}

fn split_word(word: &str) -> Option<Split> {
    match word.to_ascii_lowercase().as_str() {
        "train" | "training" => Some(Split::Train),
        "test" | "testing" => Some(Split::Test),
        "validation" | "valid" | "val" | "dev" => Some(Split::Validation),
        _ => None,
    }
}

/// The split of a shard named `rel` (a path relative to the dataset's root, `/`-separated).
fn split_of(rel: &str) -> Option<Split> {
    let mut parts: Vec<&str> = rel.split('/').collect();
    let file = parts.pop()?;
    let stem = file.strip_suffix(".parquet").unwrap_or(file);
    // `train-00000-of-00002`, `train`, then the older `name-train-00000-of-00001`, then a
    // `train/0000.parquet` folder.
    stem.split('-')
        .next()
        .and_then(split_word)
        .or_else(|| stem.split('-').find_map(split_word))
        .or_else(|| parts.last().and_then(|d| split_word(d)))
}

/// The training and test shards among `shards` (relative name, local path), each sorted by
/// name; `origin` names the dataset in errors.
pub(crate) fn assign_splits(
    shards: &[(String, PathBuf)],
    origin: &Path,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>)> {
    let mut sorted = shards.to_vec();
    sorted.sort();
    let by_split = |want: Split| -> Vec<PathBuf> {
        sorted
            .iter()
            .filter(|(rel, _)| split_of(rel) == Some(want))
            .map(|(_, p)| p.clone())
            .collect()
    };
    let train = by_split(Split::Train);
    let mut test = by_split(Split::Test);
    if test.is_empty() {
        test = by_split(Split::Validation);
    }
    if let Some((rel, path)) = sorted.iter().find(|(rel, _)| split_of(rel).is_none()) {
        return Err(DataError::format(
            path,
            format!(
                "cannot tell which split the shard `{rel}` belongs to: expected a name \
                 starting with train-, test- or validation- (or a train/, test/ or \
                 validation/ folder)"
            ),
        ));
    }
    let names = || {
        sorted
            .iter()
            .map(|(r, _)| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if train.is_empty() {
        return Err(DataError::format(
            origin,
            format!(
                "missing split: no training shard (train-*.parquet) among: {}",
                names()
            ),
        ));
    }
    if test.is_empty() {
        return Err(DataError::format(
            origin,
            format!(
                "missing split: no test shard (test-*.parquet, or validation-*.parquet) among: {}",
                names()
            ),
        ));
    }
    Ok((train, test))
}

/// The features `datasets` records in a shard's `huggingface` metadata (`info.features`).
fn hf_features(reader: &SerializedFileReader<File>) -> Option<serde_json::Value> {
    let kv = reader.metadata().file_metadata().key_value_metadata()?;
    let text = kv.iter().find(|k| k.key == "huggingface")?.value.clone()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value
        .get("info")
        .and_then(|i| i.get("features"))
        .cloned()
        .filter(|f| f.is_object())
}

fn feature_type<'a>(features: Option<&'a serde_json::Value>, column: &str) -> Option<&'a str> {
    features?.get(column)?.get("_type")?.as_str()
}

fn is_image_column(t: &Type) -> bool {
    use parquet::basic::{LogicalType, Type as Physical};
    if t.is_group() {
        t.get_fields().iter().any(|f| {
            f.name() == "bytes" && f.is_primitive() && f.get_physical_type() == Physical::BYTE_ARRAY
        })
    } else {
        t.get_physical_type() == Physical::BYTE_ARRAY
            && !matches!(
                t.get_basic_info().logical_type_ref(),
                Some(LogicalType::String | LogicalType::Json | LogicalType::Enum)
            )
    }
}

fn is_label_column(t: &Type) -> bool {
    use parquet::basic::Type as Physical;
    t.is_primitive()
        && matches!(t.get_physical_type(), Physical::INT32 | Physical::INT64)
        && t.get_basic_info()
            .logical_type_ref()
            .is_none_or(|l| matches!(l, parquet::basic::LogicalType::Integer { .. }))
}

/// Picks a column: the one asked for (which must be a candidate), else the only candidate,
/// else the candidate named `preferred`; the error lists the candidates.
fn pick_column(
    shard: &Path,
    what: &str,
    option: &str,
    asked: Option<&str>,
    candidates: &[String],
    all: &[String],
    preferred: &[&str],
) -> Result<String> {
    let listed = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    if let Some(name) = asked {
        if candidates.iter().any(|c| c == name) {
            return Ok(name.to_string());
        }
        let why = if all.iter().any(|c| c == name) {
            format!("column `{name}` is not {what}")
        } else {
            format!("there is no column `{name}`")
        };
        return Err(DataError::format(
            shard,
            format!(
                "{why}; the {what} candidates are: {} (all columns: {})",
                listed(candidates),
                listed(all)
            ),
        ));
    }
    match candidates {
        [one] => Ok(one.clone()),
        [] => Err(DataError::format(
            shard,
            format!(
                "no {what} column found (columns: {}); name one with --{option}-column COLUMN \
                 (or `?{option}=COLUMN` on the data source)",
                listed(all)
            ),
        )),
        many => preferred
            .iter()
            .find_map(|p| many.iter().find(|c| c == p))
            .cloned()
            .ok_or_else(|| {
                DataError::format(
                    shard,
                    format!(
                        "ambiguous {what} column: candidates are {}; choose one with \
                         --{option}-column COLUMN (or `?{option}=COLUMN` on the data source, \
                         e.g. ?{option}={})",
                        many.join(", "),
                        many[0]
                    ),
                )
            }),
    }
}

/// What every shard of a dataset must share.
struct Layout {
    schema: Arc<Type>,
    image: Arc<Type>,
    label: Arc<Type>,
    class_names: Option<Vec<String>>,
}

fn open(path: &Path) -> Result<SerializedFileReader<File>> {
    let file = File::open(path).map_err(|e| DataError::io(path, e))?;
    SerializedFileReader::new(file).map_err(|e| {
        DataError::format(
            path,
            format!("not a readable parquet file (truncated or damaged?): {e}"),
        )
    })
}

fn layout(path: &Path, reader: &SerializedFileReader<File>, columns: &Columns) -> Result<Layout> {
    let schema = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema_ptr();
    let features = hf_features(reader);
    let all: Vec<String> = schema
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    // Columns of the Hugging Face feature `kind`, else those of the right physical shape.
    let candidates = |kind: &str, shaped: fn(&Type) -> bool| -> Vec<String> {
        let typed: Vec<String> = all
            .iter()
            .filter(|c| feature_type(features.as_ref(), c) == Some(kind))
            .cloned()
            .collect();
        if !typed.is_empty() {
            return typed;
        }
        schema
            .get_fields()
            .iter()
            .filter(|f| shaped(f))
            .map(|f| f.name().to_string())
            .collect()
    };
    let images = candidates("Image", is_image_column);
    let labels = candidates("ClassLabel", is_label_column);
    let image = pick_column(
        path,
        "image",
        "image",
        columns.image.as_deref(),
        &images,
        &all,
        &["image", "img"],
    )?;
    let label = pick_column(
        path,
        "integer label",
        "label",
        columns.label.as_deref(),
        &labels,
        &all,
        &["label", "labels"],
    )?;
    let field = |name: &str| -> Result<Arc<Type>> {
        schema
            .get_fields()
            .iter()
            .find(|f| f.name() == name)
            .cloned()
            .ok_or_else(|| DataError::format(path, format!("there is no column `{name}`")))
    };
    let (image_t, label_t) = (field(&image)?, field(&label)?);
    if !is_image_column(&image_t) {
        return Err(DataError::format(
            path,
            format!("column `{image}` holds no image bytes (expected a struct {{bytes, path}} or a binary column)"),
        ));
    }
    if !is_label_column(&label_t) {
        return Err(DataError::format(
            path,
            format!("column `{label}` is not an integer column"),
        ));
    }
    let class_names = features
        .as_ref()
        .and_then(|f| f.get(&label))
        .filter(|f| f.get("_type").and_then(|t| t.as_str()) == Some("ClassLabel"))
        .and_then(|f| f.get("names"))
        .and_then(|n| n.as_array())
        .map(|n| {
            n.iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
        })
        .filter(|n| !n.is_empty());
    Ok(Layout {
        schema,
        image: image_t,
        label: label_t,
        class_names,
    })
}

fn image_bytes(field: &Field) -> Option<Vec<u8>> {
    match field {
        Field::Bytes(b) => Some(b.data().to_vec()),
        Field::Group(row) => row.get_column_iter().find_map(|(name, f)| match f {
            Field::Bytes(b) if name == "bytes" => Some(b.data().to_vec()),
            _ => None,
        }),
        _ => None,
    }
}

fn label_value(field: &Field) -> Option<i64> {
    match field {
        Field::Byte(v) => Some(i64::from(*v)),
        Field::Short(v) => Some(i64::from(*v)),
        Field::Int(v) => Some(i64::from(*v)),
        Field::Long(v) => Some(*v),
        Field::UByte(v) => Some(i64::from(*v)),
        Field::UShort(v) => Some(i64::from(*v)),
        Field::UInt(v) => Some(i64::from(*v)),
        Field::ULong(v) => i64::try_from(*v).ok(),
        _ => None,
    }
}

thread_local! {
    /// Whether a panic on this thread is one [`guarded`] turns into an error (not printed).
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `read` on a shard, turning a panic of the `parquet` crate into an error naming the
/// shard: some damaged files (a data page that refers to a missing dictionary page, …) make
/// that crate panic instead of returning an error. The panic is not printed.
fn guarded<T>(path: &Path, read: impl FnOnce() -> Result<T>) -> Result<T> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(|q| q.get()) {
                previous(info);
            }
        }));
    });
    let was = QUIET.with(|q| q.replace(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(read));
    QUIET.with(|q| q.set(was));
    result.unwrap_or_else(|payload| {
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(DataError::format(
            path,
            format!("a damaged parquet file: the parquet reader stopped with `{text}`"),
        ))
    })
}

/// Checks the byte ranges of every column chunk against the file's length (the `parquet`
/// crate asserts on negative ones).
fn check_chunks(path: &Path, reader: &SerializedFileReader<File>) -> Result<()> {
    let len = std::fs::metadata(path)
        .map_err(|e| DataError::io(path, e))?
        .len() as i64;
    for (g, group) in reader.metadata().row_groups().iter().enumerate() {
        for column in group.columns() {
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            let size = column.compressed_size();
            if start < 0 || size < 0 || start.checked_add(size).is_none_or(|end| end > len) {
                return Err(DataError::format(
                    path,
                    format!(
                        "a damaged parquet file: row group {g}, column `{}` claims bytes {start} \
                         to {start}+{size} of a {len}-byte file",
                        column.column_path()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One shard's rows as images to decode and raw labels.
fn read_shard(path: &Path, layout: &Layout, image: &str, label: &str) -> Result<Vec<(Item, i64)>> {
    guarded(path, || read_shard_rows(path, layout, image, label))
}

fn read_shard_rows(
    path: &Path,
    layout: &Layout,
    image: &str,
    label: &str,
) -> Result<Vec<(Item, i64)>> {
    let reader = open(path)?;
    check_chunks(path, &reader)?;
    let schema = reader
        .metadata()
        .file_metadata()
        .schema_descr()
        .root_schema_ptr();
    if schema != layout.schema {
        return Err(DataError::format(
            path,
            format!(
                "this shard's columns differ from the first shard's: expected the same \
                 schema in every shard (here: {}; first: {})",
                column_list(&schema),
                column_list(&layout.schema)
            ),
        ));
    }
    let projection = Type::group_type_builder("schema")
        .with_fields(vec![layout.image.clone(), layout.label.clone()])
        .build()
        .map_err(|e| DataError::format(path, e.to_string()))?;
    let rows = reader
        .get_row_iter(Some(projection))
        .map_err(|e| DataError::format(path, format!("cannot read the rows: {e}")))?;
    let mut out = Vec::new();
    for (r, row) in rows.enumerate() {
        let row = row.map_err(|e| {
            DataError::format(
                path,
                format!("row {r}: cannot read it (truncated or damaged?): {e}"),
            )
        })?;
        let origin = PathBuf::from(format!("{}: row {r}", path.display()));
        let mut bytes = None;
        let mut value = None;
        for (name, field) in row.get_column_iter() {
            if name == image {
                bytes = Some(image_bytes(field));
            } else if name == label {
                value = Some(label_value(field));
            }
        }
        let bytes = bytes.flatten().ok_or_else(|| DataError::Image {
            path: origin.clone(),
            reason: format!(
                "column `{image}` holds no image bytes in this row (null, or only a path)"
            ),
        })?;
        let value = value.flatten().ok_or_else(|| {
            DataError::format(
                &origin,
                format!("column `{label}` holds no label in this row (null)"),
            )
        })?;
        out.push((
            Item {
                origin,
                label: 0,
                payload: Payload::Bytes(bytes),
            },
            value,
        ));
    }
    Ok(out)
}

fn column_list(schema: &Type) -> String {
    schema
        .get_fields()
        .iter()
        .map(|f| {
            format!(
                "{} ({})",
                f.name(),
                if f.is_group() {
                    "struct".to_string()
                } else {
                    format!("{:?}", f.get_physical_type())
                }
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rows of the training and test shards as images to decode, with the class names.
pub(crate) fn read(
    train: &[PathBuf],
    test: &[PathBuf],
    columns: &Columns,
) -> Result<(Vec<Item>, Vec<Item>, Vec<String>)> {
    let first = &train[0];
    let layout = guarded(first, || layout(first, &open(first)?, columns))?;
    let image = layout.image.name().to_string();
    let label = layout.label.name().to_string();
    let read_all = |shards: &[PathBuf]| -> Result<Vec<(Item, i64)>> {
        let mut rows = Vec::new();
        for shard in shards {
            rows.extend(read_shard(shard, &layout, &image, &label)?);
        }
        Ok(rows)
    };
    let train_rows = read_all(train)?;
    let test_rows = read_all(test)?;
    let max = train_rows
        .iter()
        .chain(test_rows.iter())
        .map(|(_, v)| *v)
        .max()
        .unwrap_or(0);
    let class_names = layout
        .class_names
        .clone()
        .unwrap_or_else(|| (0..=max.max(0)).map(|v| v.to_string()).collect());
    let n = class_names.len();
    let check = |rows: Vec<(Item, i64)>| -> Result<Vec<Item>> {
        rows.into_iter()
            .map(|(mut item, v)| {
                if v < 0 || v as usize >= n {
                    let named = if layout.class_names.is_some() {
                        format!("the ClassLabel feature of `{label}` names {n} classes")
                    } else {
                        "labels must be non-negative".to_string()
                    };
                    return Err(DataError::format(
                        &item.origin,
                        format!(
                            "label {v} in column `{label}` is out of range: expected 0 to {} ({named}{})",
                            n.saturating_sub(1),
                            if v < 0 { "; -1 marks an unlabelled example" } else { "" }
                        ),
                    ));
                }
                item.label = v as u32;
                Ok(item)
            })
            .collect()
    };
    Ok((check(train_rows)?, check(test_rows)?, class_names))
}

/// The parquet files at `path`: the file itself, or every `*.parquet` below the folder
/// (relative names, `/`-separated).
pub(crate) fn shards_at(path: &Path) -> Result<Vec<(String, PathBuf)>> {
    if path.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![(name, path.to_path_buf())]);
    }
    if !path.is_dir() {
        return Err(DataError::NotFound {
            what: "parquet shards".into(),
            searched: vec![path.to_path_buf()],
            hint: "expected a .parquet file or a folder holding train-*.parquet and test-*.parquet"
                .into(),
        });
    }
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| DataError::io(&dir, e))? {
            let entry = entry.map_err(|e| DataError::io(&dir, e))?;
            let p = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else if name.ends_with(".parquet") {
                let rel = p
                    .strip_prefix(path)
                    .unwrap_or(&p)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.push((rel, p));
            }
        }
    }
    if out.is_empty() {
        return Err(DataError::format(
            path,
            "no .parquet file in this folder: expected train-*.parquet and test-*.parquet",
        ));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_names_give_their_splits() {
        for (name, split) in [
            ("data/train-00000-of-00002.parquet", Some(Split::Train)),
            ("test-00000-of-00001-abcdef.parquet", Some(Split::Test)),
            ("validation-00000-of-00001.parquet", Some(Split::Validation)),
            ("default/train/0000.parquet", Some(Split::Train)),
            ("plain_text/cifar10-test.parquet", Some(Split::Test)),
            ("data/extra-0.parquet", None),
        ] {
            assert_eq!(split_of(name), split, "{name}");
        }
    }
}
