//! A torchvision `ImageFolder` layout: `DIR/train/<class>/…` and `DIR/test/<class>/…`
//! (`DIR/val/` when there is no `test/`).
//!
//! As torchvision's `ImageFolder` (`torchvision/datasets/folder.py`, `find_classes` and
//! `make_dataset`): the classes are the sorted names of the training split's sub-folders,
//! numbered from 0 in that order, and each class folder is walked recursively, folders in
//! sorted path order and the files of a folder in sorted name order. Unlike it, the test split
//! takes the training split's numbering (a test split lacking a class does not shift the
//! labels of the others), a file that is not an image is an error rather than skipped (hidden
//! files, whose names start with `.`, are skipped), and an empty class folder is an error in
//! either split.

use std::path::{Path, PathBuf};

use crate::decode::{has_image_extension, Item, Payload, IMAGE_EXTENSIONS};
use crate::error::{DataError, Result};

/// The images of an image folder, listed (not decoded): the files, their labels and the
/// class names.
pub(crate) struct Listing {
    /// Training images, in walk order.
    pub train: Vec<Item>,
    /// Test images, in walk order.
    pub test: Vec<Item>,
    /// Class names (the training split's folder names, sorted).
    pub class_names: Vec<String>,
    /// Every file listed, relative to the root (for the cache key).
    pub files: Vec<(String, PathBuf)>,
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        // Follows symbolic links, as torchvision's `os.walk(..., followlinks=True)`.
        let is_dir = std::fs::metadata(&path)
            .map_err(|e| DataError::io(&path, e))?
            .is_dir();
        out.push((name, path, is_dir));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Every image file under `class_dir`: folders in sorted path order, files of a folder
/// sorted by name.
fn walk_class(class_dir: &Path) -> Result<Vec<PathBuf>> {
    let mut folders = vec![class_dir.to_path_buf()];
    let mut i = 0;
    while i < folders.len() {
        let entries = sorted_entries(&folders[i])?;
        folders.extend(entries.iter().filter(|e| e.2).map(|e| e.1.clone()));
        i += 1;
    }
    folders.sort_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
    let mut files = Vec::new();
    for folder in &folders {
        for (name, path, is_dir) in sorted_entries(folder)? {
            if is_dir {
                continue;
            }
            if !has_image_extension(&name) {
                return Err(DataError::Image {
                    path,
                    reason: format!(
                        "not an image file: expected one of the extensions .{} in a class \
                         folder (remove it, or move it out of {})",
                        IMAGE_EXTENSIONS.join(", ."),
                        class_dir.display()
                    ),
                });
            }
            files.push(path);
        }
    }
    Ok(files)
}

fn class_folders(split_dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    Ok(sorted_entries(split_dir)?
        .into_iter()
        .filter(|e| e.2)
        .map(|e| (e.0, e.1))
        .collect())
}

/// Lists `root`'s images; the errors name the folder or file at fault.
pub(crate) fn list(root: &Path) -> Result<Listing> {
    if !root.is_dir() {
        return Err(DataError::NotFound {
            what: "image folder".into(),
            searched: vec![root.to_path_buf()],
            hint: "expected a folder holding train/<class>/<image> and test/<class>/<image> \
                   (or val/<class>/<image>)"
                .into(),
        });
    }
    let train_dir = root.join("train");
    if !train_dir.is_dir() {
        return Err(DataError::format(
            root,
            "missing split: expected a `train/` folder holding one folder per class",
        ));
    }
    let test_dir = ["test", "val"]
        .iter()
        .map(|s| root.join(s))
        .find(|d| d.is_dir())
        .ok_or_else(|| {
            DataError::format(
                root,
                "missing split: expected a `test/` folder (or `val/`) holding one folder per class",
            )
        })?;
    let train_classes = class_folders(&train_dir)?;
    if train_classes.is_empty() {
        return Err(DataError::format(
            &train_dir,
            "no class folder: expected train/<class>/<image>",
        ));
    }
    let class_names: Vec<String> = train_classes.iter().map(|c| c.0.clone()).collect();
    let mut files = Vec::new();
    let mut split_items = |classes: &[(String, PathBuf)]| -> Result<Vec<Item>> {
        let mut items = Vec::new();
        for (name, dir) in classes {
            let label = class_names.iter().position(|c| c == name).ok_or_else(|| {
                DataError::format(
                    dir,
                    format!(
                        "class `{name}` is in {} but not in {}: every test class must be a \
                         training class (the training classes are {})",
                        test_dir.display(),
                        train_dir.display(),
                        class_names.join(", ")
                    ),
                )
            })?;
            let images = walk_class(dir)?;
            if images.is_empty() {
                return Err(DataError::format(
                    dir,
                    format!(
                        "empty class folder: expected at least one image (.{})",
                        IMAGE_EXTENSIONS.join(", .")
                    ),
                ));
            }
            for path in images {
                let rel = path
                    .strip_prefix(root)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                files.push((rel, path.clone()));
                items.push(Item {
                    origin: path.clone(),
                    label: label as u32,
                    payload: Payload::File(path),
                });
            }
        }
        Ok(items)
    };
    let train = split_items(&train_classes)?;
    let test = split_items(&class_folders(&test_dir)?)?;
    if test.is_empty() {
        return Err(DataError::format(
            &test_dir,
            "no class folder: expected <split>/<class>/<image>",
        ));
    }
    Ok(Listing {
        train,
        test,
        class_names,
        files,
    })
}
