//! Trains the small CNN on part of the embedded subset with the `quick` recipe and prints the
//! per-epoch loss and the test accuracy.
//!
//! ```sh
//! cargo run --release -p unlearn-train --example train_quick -- [EPOCHS] [IMAGES]
//! ```

use candle_core::Device;
use unlearn_data::DataSource;
use unlearn_models::{Arch, Model, ModelSpec};
use unlearn_train::{engine, DataView, Preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let epochs: usize = args.next().map_or(Ok(2), |s| s.parse())?;
    let images: u32 = args.next().map_or(Ok(4000), |s| s.parse())?;
    let ds = DataSource::Embedded.load()?;
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: ds.input_shape(),
        num_classes: ds.num_classes,
    };
    let model =
        Model::new(&spec, &Device::Cpu, 0)?.with_normalization(Some(ds.normalization.clone()))?;
    let mut recipe = Preset::Quick.recipe();
    recipe.epochs = epochs;
    let indices: Vec<u32> = (0..images.min(ds.train.len() as u32)).collect();
    let view = DataView {
        images: &ds.train,
        indices: &indices,
        augmentation: ds.augmentation,
    };
    let record = engine::train(&model, &view, &recipe, 0, Default::default())?;
    for e in &record.epochs {
        println!(
            "epoch {:>2}  loss {:.4}  {:.1}s",
            e.epoch, e.loss, e.seconds
        );
    }
    let test: Vec<u32> = (0..ds.test.len() as u32).collect();
    let test_view = DataView {
        images: &ds.test,
        indices: &test,
        ..view
    };
    let eval = engine::evaluate(&model, &test_view, recipe.eval_batch_size)?;
    println!(
        "test accuracy {:.2}% on {} images",
        eval.accuracy, eval.total
    );
    Ok(())
}
