//! Trains an original for two epochs on the embedded subset, then forgets a random 10 % with
//! a method (default `muda`) and prints the run's per-epoch record.
//!
//! ```sh
//! cargo run --release -p unlearn-methods --example forget_random -- [METHOD] [key=value …]
//! ```

use candle_core::Device;
use unlearn_data::{make_split, DataSource, SplitConfig};
use unlearn_methods::{registry, run, Overrides, UnlearnContext};
use unlearn_models::{Arch, Model, ModelSpec};
use unlearn_train::{engine, DataView, Preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let method_id = args.next().unwrap_or_else(|| "muda".into());
    let sets: Vec<String> = args.collect();
    let ds = DataSource::Embedded.load()?;
    let cfg = SplitConfig {
        scenario: "random:0.1".parse()?,
        seed: 0,
        val_fraction: 0.1,
    };
    let split = make_split(&ds, &cfg)?;
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: ds.input_shape(),
        num_classes: ds.num_classes,
    };
    let original =
        Model::new(&spec, &Device::Cpu, 0)?.with_normalization(Some(ds.normalization.clone()))?;
    let mut recipe = Preset::Quick.recipe();
    recipe.epochs = 2;
    let images = split.poisoned_train(&ds);
    let view = DataView {
        images: &images,
        indices: &split.train,
        augmentation: ds.augmentation,
    };
    engine::train(&original, &view, &recipe, 0, Default::default())?;
    let method = registry::build(&method_id, "quick", &Overrides::new(&sets, None)?)?;
    let ctx = UnlearnContext::new(&original, &ds, &images, &split, &recipe, 0);
    let out = run(&method, &ctx).map_err(|f| f.error)?;
    println!("{} with {}", out.record.method, out.record.params);
    for e in &out.record.epochs {
        let pct = |v: Option<f64>| v.map_or("-".into(), |x| format!("{x:.2}%"));
        println!(
            "epoch {:>2}  forget acc {:>7}  retain acc {:>7}",
            e.epoch,
            pct(e.forget_acc),
            pct(e.retain_acc)
        );
    }
    println!("{} steps in {:.1}s", out.record.steps, out.record.seconds);
    Ok(())
}
