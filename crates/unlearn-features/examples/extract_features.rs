//! Trains a small CNN for one epoch on the embedded subset, extracts its features over a
//! `class:3` split and prints each part's size and mean feature norm.
//!
//! ```sh
//! cargo run --release -p unlearn-features --example extract_features
//! ```

use candle_core::Device;
use unlearn_data::{make_split, DataSource, SplitConfig};
use unlearn_features::{extract, ExtractOptions};
use unlearn_models::{Arch, Model, ModelSpec};
use unlearn_train::{engine, DataView, Preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ds = DataSource::Embedded.load()?;
    let cfg = SplitConfig {
        scenario: "class:3".parse()?,
        seed: 0,
        val_fraction: 0.1,
    };
    let split = make_split(&ds, &cfg)?;
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: ds.input_shape(),
        num_classes: ds.num_classes,
    };
    let model =
        Model::new(&spec, &Device::Cpu, 0)?.with_normalization(Some(ds.normalization.clone()))?;
    let mut recipe = Preset::Quick.recipe();
    recipe.epochs = 1;
    let view = DataView {
        images: &ds.train,
        indices: &split.train,
        augmentation: ds.augmentation,
    };
    engine::train(&model, &view, &recipe, 0, Default::default())?;
    let opts = ExtractOptions {
        max_retain: Some(2000),
        ..Default::default()
    };
    let bundle = extract(&model, &ds, &split, &opts)?;
    println!("feature width d = {}", bundle.dim());
    for (name, part) in [
        ("retain", &bundle.retain),
        ("forget", &bundle.forget),
        ("test", &bundle.test),
    ] {
        let n = part.labels.len();
        let norms: f64 = part
            .features
            .iter_rows()
            .map(|r| r.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt())
            .sum();
        println!(
            "{name:<7} {n:>5} rows, mean ‖z‖ {:.3}",
            norms / n.max(1) as f64
        );
    }
    Ok(())
}
