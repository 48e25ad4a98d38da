//! `unlearn import`: a foreign checkpoint (PyTorch `.pth` or a plain safetensors state dict,
//! from a file, `hf://…` or `model:<id>`) as a toolkit checkpoint, with the tensor mapping.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use unlearn_models::{Arch, Normalization};
use unlearn_ops as ops;

/// Help text after the options: examples.
pub const IMPORT_EXAMPLES: &str = "\
Examples:
  unlearn import --from resnet18_cifar10_full.pth --arch resnet18-cifar --normalize mean=0.4914,0.4822,0.4465,std=0.2023,0.1994,0.2010 --out full.safetensors
  unlearn import --from model:comparator-resnet18-cifar10-full --out full.safetensors
  unlearn import --from hf://org/repo/ckpt.pth --arch resnet18 --input-shape 3,32,32 --out r18.safetensors --json report.json
  unlearn import --from salun.pth --arch resnet18-cifar --out salun.safetensors   # normalize.* buffers become the normalisation

PyTorch files are read without running their pickle: only tensors and plain containers are
accepted. state_dict / model_state_dict / model / net wrappers are unwrapped, module. and
model. prefixes stripped, kuangliu names (shortcut.*, linear.*) mapped to torchvision's. The
mapping is printed; a partial match (missing, unexpected or mis-shaped tensors) is refused
unless --allow-partial.";

/// Arguments of `unlearn import`.
#[derive(Args)]
pub struct ImportArgs {
    /// The checkpoint: a path (.pth or .safetensors), hf://org/repo/file[@revision] or
    /// model:<id>.
    #[arg(long)]
    pub from: String,
    /// Its architecture (default: the registry entry's for model:<id>).
    #[arg(long)]
    pub arch: Option<Arch>,
    /// Its input normalisation, e.g. `mean=0.4914,0.4822,0.4465,std=0.2023,0.1994,0.2010`
    /// (default: the file's normalize.* buffers, else the registry entry's).
    #[arg(long, value_parser = Normalization::parse)]
    pub normalize: Option<Normalization>,
    /// Its input shape C,H,W (default: from the tensors where they fix it, else the
    /// architecture's usual size: 32×32 for resnet18-cifar and vit-tiny, 224×224 for
    /// resnet18 and vit-b16).
    #[arg(long, value_parser = parse_shape)]
    pub input_shape: Option<[usize; 3]>,
    /// Write the checkpoint even when tensors are missing, unexpected or mis-shaped (the
    /// missing keep seeded initial values; the report lists them).
    #[arg(long)]
    pub allow_partial: bool,
    /// Also write the mapping report as JSON here (`-` for stdout).
    #[arg(long)]
    pub json: Option<String>,
    /// The toolkit checkpoint to write (.safetensors).
    #[arg(long)]
    pub out: PathBuf,
}

fn parse_shape(text: &str) -> std::result::Result<[usize; 3], String> {
    let dims: Vec<usize> = text
        .split(',')
        .map(|d| d.trim().parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| format!("'{text}' is not C,H,W (three whole numbers, e.g. 3,32,32)"))?;
    match dims[..] {
        [c, h, w] if c > 0 && h > 0 && w > 0 => {
            unlearn_models::limits::check_input_shape([c, h, w])?;
            Ok([c, h, w])
        }
        _ => Err(format!(
            "'{text}' is not C,H,W (three positive numbers, e.g. 3,32,32)"
        )),
    }
}

/// `unlearn import`.
pub fn import(a: ImportArgs) -> Result<()> {
    let _claim = unlearn_io::Claim::new()
        .inputs("--from", crate::files::local_checkpoint(&a.from))
        .output("--out", &a.out)
        .outputs(
            "--json",
            a.json.iter().filter(|j| j.as_str() != unlearn_io::STDOUT),
        )
        .acquire()?;
    if a.out.extension().and_then(|e| e.to_str()) != Some("safetensors") {
        bail!(
            "--out {}: expected a .safetensors path (the toolkit's checkpoint format)",
            a.out.display()
        );
    }
    let report = ops::import_checkpoint(&ops::ImportJob {
        from: &a.from,
        arch: a.arch,
        normalization: a.normalize.clone(),
        input_shape: a.input_shape,
        allow_partial: a.allow_partial,
        out: &a.out,
    })?;
    eprint!("{}", report.render());
    if let Some(json) = &a.json {
        let text = serde_json::to_string_pretty(&report)? + "\n";
        if json == unlearn_io::STDOUT {
            print!("{text}");
        } else {
            unlearn_io::write_atomic(std::path::Path::new(json), text.as_bytes())?;
        }
    }
    eprintln!("wrote {}", a.out.display());
    Ok(())
}
