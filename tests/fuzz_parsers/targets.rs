//! The parsers under test: for each, its seed-corpus folder, whether it reads a folder or a
//! single file, how a corpus file is mutated, and the public call that parses the input.

use std::path::Path;

use crate::mutate::Kind;

/// What a parser reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// A folder holding every file of its corpus; one of them is mutated per execution.
    Dir,
    /// One file with this extension, a mutant of one corpus file with it.
    File(&'static str),
}

/// One parser under test.
pub struct Target {
    /// Name used in reports, crash files and `UNLEARN_FUZZ_PARSERS`.
    pub name: &'static str,
    /// Folder of `tests/fuzz-corpus` holding its seeds.
    pub corpus: &'static str,
    /// What it reads.
    pub input: Input,
    /// Parses the input at the path; `Err` holds the error message.
    pub parse: fn(&Path) -> Result<(), String>,
    /// Whether the unmutated seed of this name must parse without error.
    pub seed_ok: fn(&str) -> bool,
    /// Whether the default run includes it (`false`: only when `UNLEARN_FUZZ_PARSERS` names
    /// it, because it has known crashes in code this harness may not fix).
    pub default_on: bool,
}

fn msg<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
    r.map(drop).map_err(|e| e.to_string())
}

fn not_bad(name: &str) -> bool {
    !name.starts_with("bad-")
}

fn full_checkpoint(name: &str) -> bool {
    name.starts_with("small-cnn")
}

fn load(source: unlearn_data::DataSource) -> Result<(), String> {
    msg(source.load())
}

/// Loads the mutant as both splits of a one-class image folder (`train/a/x.<ext>`,
/// `test/a/x.<ext>`), decoded into a cache of its own.
fn image_folder(p: &Path) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let name = format!("x.{}", p.extension().unwrap_or_default().to_string_lossy());
    for split in ["train", "test"] {
        let dir = work.path().join("data").join(split).join("a");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::copy(p, dir.join(&name)).map_err(|e| e.to_string())?;
    }
    msg(unlearn_data::DataSource::ImageFolder {
        dir: work.path().join("data"),
        options: Default::default(),
    }
    .load_with_cache(&work.path().join("cache")))
}

/// Loads the mutant as the training and the test shard of a parquet dataset, decoded into
/// a cache of its own.
fn parquet_shards(p: &Path) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let dir = work.path().join("data");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    for split in ["train", "test"] {
        std::fs::copy(p, dir.join(format!("{split}-00000-of-00001.parquet")))
            .map_err(|e| e.to_string())?;
    }
    msg(unlearn_data::DataSource::Parquet {
        path: dir,
        options: Default::default(),
    }
    .load_with_cache(&work.path().join("cache")))
}

/// Every parser that reads user files.
pub const TARGETS: [Target; 15] = [
    Target {
        name: "idx",
        corpus: "idx",
        input: Input::Dir,
        parse: |p| {
            load(unlearn_data::DataSource::Idx {
                dir: p.to_path_buf(),
            })
        },
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "cifar10",
        corpus: "cifar10",
        input: Input::Dir,
        parse: |p| {
            load(unlearn_data::DataSource::Cifar10 {
                dir: Some(p.to_path_buf()),
            })
        },
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "cifar100",
        corpus: "cifar100",
        input: Input::Dir,
        parse: |p| {
            load(unlearn_data::DataSource::Cifar100 {
                dir: Some(p.to_path_buf()),
            })
        },
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "npy",
        corpus: "npy",
        input: Input::File("npy"),
        parse: |p| msg(unlearn_data::split::read_npy_indices(p)),
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "features-safetensors",
        corpus: "features",
        input: Input::File("safetensors"),
        parse: |p| msg(unlearn_metrics::features_file::FeatureBundle::load(p)),
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "features-npz",
        corpus: "features",
        input: Input::File("npz"),
        parse: |p| msg(unlearn_metrics::features_file::FeatureBundle::load(p)),
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "checkpoint-read",
        corpus: "checkpoint",
        input: Input::File("safetensors"),
        parse: |p| msg(unlearn_models::checkpoint::read(p)),
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "checkpoint-load",
        corpus: "checkpoint",
        input: Input::File("safetensors"),
        parse: |p| {
            msg(unlearn_models::checkpoint::load(
                p,
                &candle_core::Device::Cpu,
            ))
        },
        seed_ok: full_checkpoint,
        default_on: true,
    },
    Target {
        name: "pth",
        corpus: "pth",
        input: Input::File("pth"),
        parse: |p| msg(unlearn_models::checkpoint::read(p)),
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "image-png",
        corpus: "images",
        input: Input::File("png"),
        parse: image_folder,
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "image-jpeg",
        corpus: "images",
        input: Input::File("jpg"),
        parse: image_folder,
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "image-bmp",
        corpus: "images",
        input: Input::File("bmp"),
        parse: image_folder,
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "image-webp",
        corpus: "images",
        input: Input::File("webp"),
        parse: image_folder,
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "parquet",
        corpus: "parquet",
        input: Input::File("parquet"),
        parse: parquet_shards,
        seed_ok: not_bad,
        default_on: true,
    },
    Target {
        name: "manifest",
        corpus: "manifest",
        input: Input::File("json"),
        parse: |p| msg(unlearn_data::split::SplitManifest::load(p)),
        seed_ok: not_bad,
        default_on: true,
    },
];

/// The mutation kind of a corpus file, from its name.
pub fn kind_of(file_name: &str) -> Kind {
    let ext = file_name.rsplit('.').next().unwrap_or("");
    match ext {
        "gz" => Kind::IdxGz,
        "bin" => Kind::Cifar,
        "txt" => Kind::Lines,
        "npy" => Kind::Npy,
        // A torch.save zip archive: its stored entries mutated, dropped, duplicated, renamed.
        "npz" | "pth" => Kind::Npz,
        "safetensors" => Kind::Safetensors,
        "json" => Kind::Json { rehash: true },
        "png" | "jpg" | "bmp" | "webp" | "parquet" => Kind::Binary,
        _ => Kind::Idx,
    }
}

/// The seeds of `target`: (file name, bytes), sorted by name.
pub fn seeds(corpus_root: &Path, target: &Target) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_root.join(target.corpus);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus folder {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .filter(|p| match target.input {
            Input::Dir => true,
            Input::File(ext) => p.extension().is_some_and(|e| e == ext),
        })
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&p).expect("read corpus file");
            (name, bytes)
        })
        .collect();
    out.sort();
    assert!(
        !out.is_empty(),
        "no seeds for {} in {}",
        target.name,
        dir.display()
    );
    out
}
