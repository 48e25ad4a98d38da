//! The training loop and the evaluation passes that every command and method shares.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, D};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use unlearn_data::{Augmentation, CropDraw, ImageSet};
use unlearn_models::checkpoint::{self, RawTensor};
use unlearn_models::Model;

use crate::error::{Result, TrainError};
use crate::optim::Optimizer;
use crate::recipe::Recipe;
use crate::trace::{augment_json, StepInfo, Trace};

/// A set of images to draw batches from: which images, which of them, how to augment them.
/// Batches hold pixels scaled to `[0, 1]`; the model normalises them itself.
#[derive(Clone, Copy)]
pub struct DataView<'a> {
    /// The images.
    pub images: &'a ImageSet,
    /// Indices into `images`.
    pub indices: &'a [u32],
    /// Augmentation applied when training.
    pub augmentation: Augmentation,
}

/// One mini-batch on the device.
pub struct Batch {
    /// N × C × H × W inputs in `[0, 1]`.
    pub x: Tensor,
    /// N labels (u32).
    pub y: Tensor,
    /// Indices of the samples in the source set.
    pub indices: Vec<u32>,
    /// The augmentation and each row's draw, when the batch was augmented.
    pub augment: Option<(Augmentation, Vec<CropDraw>)>,
}

impl Batch {
    /// The batch's augmentation as the step trace writes it (`null` when not augmented).
    pub fn augment_json(&self) -> serde_json::Value {
        match &self.augment {
            Some((aug, draws)) => augment_json(*aug, Some(draws)),
            None => serde_json::Value::Null,
        }
    }
}

impl<'a> DataView<'a> {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Builds the batch of `indices` (augmented with `rng` when given).
    pub fn batch(
        &self,
        indices: &[u32],
        device: &Device,
        rng: Option<&mut rand_chacha::ChaCha8Rng>,
    ) -> Result<Batch> {
        let s = self.images;
        let aug = if rng.is_some() {
            self.augmentation
        } else {
            Augmentation::None
        };
        let mut draws = Vec::new();
        let data = s.batch_f32_with_draws(indices, aug, rng, &mut draws);
        let x = Tensor::from_vec(data, (indices.len(), s.channels, s.height, s.width), device)?;
        let y = Tensor::from_vec(s.batch_labels(indices), indices.len(), device)?;
        Ok(Batch {
            x,
            y,
            indices: indices.to_vec(),
            augment: (!draws.is_empty()).then_some((aug, draws)),
        })
    }

    /// The shuffled order of one training epoch: determined by `(seed, epoch)` only.
    pub fn epoch_order(&self, seed: u64, epoch: usize) -> Vec<u32> {
        unlearn_data::rng::epoch_order(self.indices, seed, epoch)
    }
}

/// Per-epoch record, also written as one JSON line to the run log.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EpochRecord {
    /// Epoch (1-based, as printed).
    pub epoch: usize,
    /// Mean training loss.
    pub loss: f64,
    /// Training accuracy (percent, on augmented batches in training mode).
    pub train_acc: f64,
    /// Learning rate at the epoch's first batch.
    pub lr: f64,
    /// Seconds the epoch took.
    pub seconds: f64,
    /// Throughput.
    pub images_per_second: f64,
}

/// Options of a training run that do not change its result.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// Show a progress bar (only drawn on a terminal).
    pub progress: bool,
    /// Where to write one JSON line per epoch.
    pub log: Option<&'a mut dyn Write>,
    /// Where to keep the resumable state between epochs (deleted on success).
    pub state_path: Option<PathBuf>,
}

/// A progress bar on stderr, hidden when stderr is not a terminal or when `show` is false.
pub fn progress_bar(len: u64, prefix: &str, show: bool) -> ProgressBar {
    if !show || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}<{eta})")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(prefix.to_string());
    pb
}

/// Cross-entropy of logits against u32 labels (mean over the batch).
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Result<Tensor> {
    Ok(candle_nn::loss::cross_entropy(logits, labels)?)
}

/// Number of rows whose arg-max equals the label.
pub fn count_correct(logits: &Tensor, labels: &Tensor) -> Result<usize> {
    let pred = logits.argmax(D::Minus1)?;
    Ok(pred
        .eq(labels)?
        .to_dtype(DType::U32)?
        .sum_all()?
        .to_scalar::<u32>()? as usize)
}

fn check_finite(v: f64, what: &str, epoch: usize, step: usize) -> Result<()> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(TrainError::Diverged {
            epoch,
            step,
            what: what.into(),
            value: v,
        })
    }
}

/// Backward pass + optimiser step for a scalar loss, refusing a non-finite loss.
pub fn backward_step(
    optimizer: &mut Optimizer,
    loss: &Tensor,
    epoch: usize,
    step: usize,
) -> Result<f64> {
    let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    check_finite(value, "loss", epoch, step)?;
    let grads = loss.backward()?;
    optimizer.step(&grads)?;
    Ok(value)
}

/// Checks that every parameter is finite (run after each epoch).
pub fn check_weights(model: &Model, epoch: usize) -> Result<()> {
    for (name, var) in model.store().parameters() {
        let s = var
            .as_tensor()
            .abs()?
            .max_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        check_finite(s, &format!("max |{name}|"), epoch, 0)?;
    }
    Ok(())
}

/// What a training run did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainRecord {
    /// The recipe.
    pub recipe: Recipe,
    /// The seed.
    pub seed: u64,
    /// Per-epoch records.
    pub epochs: Vec<EpochRecord>,
    /// Wall-clock seconds (this process only, if resumed).
    pub seconds: f64,
    /// Epoch at which this process resumed, if it did.
    pub resumed_from: Option<usize>,
}

const STATE_FORMAT: &str = "unlearn-train-state/1";

/// Which run a state file belongs to: its key, and the seed and recipe in words for errors.
struct RunIdentity<'a> {
    key: &'a str,
    seed: u64,
    recipe_json: &'a str,
}

fn save_state(
    path: &Path,
    model: &Model,
    optimizer: &Optimizer,
    epochs_done: usize,
    run: &RunIdentity,
    records: &[EpochRecord],
) -> Result<()> {
    let RunIdentity {
        key,
        seed,
        recipe_json,
    } = *run;
    let mut tensors = checkpoint::model_tensors(model)?;
    for (name, t) in optimizer.state() {
        let name = format!("optimizer.{name}");
        checkpoint::check_finite(
            "the training state to be written",
            &name,
            t,
            "nothing was written",
        )?;
        tensors.insert(name, RawTensor::from_tensor(t)?);
    }
    let mut meta = BTreeMap::new();
    meta.insert("format".to_string(), STATE_FORMAT.to_string());
    meta.insert("run_key".to_string(), key.to_string());
    meta.insert("seed".to_string(), seed.to_string());
    meta.insert("recipe".to_string(), recipe_json.to_string());
    meta.insert("epochs_done".to_string(), epochs_done.to_string());
    meta.insert("optimizer_steps".to_string(), optimizer.steps().to_string());
    meta.insert(
        "records".to_string(),
        serde_json::to_string(records).unwrap_or_default(),
    );
    let bytes = checkpoint::safetensors_bytes(&tensors, &meta);
    checkpoint::write_atomic(path, &bytes)?;
    Ok(())
}

fn load_state(
    path: &Path,
    model: &Model,
    optimizer: &mut Optimizer,
    run: &RunIdentity,
) -> Result<Option<(usize, Vec<EpochRecord>)>> {
    if !path.exists() {
        return Ok(None);
    }
    let stale = |reason: String| TrainError::StaleState {
        path: path.to_path_buf(),
        reason,
    };
    let mut ckpt = checkpoint::read(path)?;
    if ckpt.metadata.get("format").map(String::as_str) != Some(STATE_FORMAT) {
        return Err(stale("not a training-state file".into()));
    }
    if ckpt.metadata.get("run_key").map(String::as_str) != Some(run.key) {
        let seed = ckpt.metadata.get("seed").cloned().unwrap_or_default();
        let recipe = ckpt.metadata.get("recipe").cloned().unwrap_or_default();
        let which = if !seed.is_empty() && seed != run.seed.to_string() {
            format!(
                "it belongs to a run with seed {seed}, this run has seed {}",
                run.seed
            )
        } else if !recipe.is_empty() && recipe != run.recipe_json {
            format!("it belongs to a run with another recipe ({recipe})")
        } else {
            "it belongs to a run with other data, model or training list".to_string()
        };
        return Err(stale(format!(
            "{which}; rerun with --no-resume (or delete it) to start afresh"
        )));
    }
    let epochs_done: usize = ckpt
        .metadata
        .get("epochs_done")
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| stale("no epochs_done".into()))?;
    let steps: u64 = ckpt
        .metadata
        .get("optimizer_steps")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let records: Vec<EpochRecord> = ckpt
        .metadata
        .get("records")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or_default();
    let mut opt_state = BTreeMap::new();
    let names: Vec<String> = ckpt.tensors.keys().cloned().collect();
    for name in names {
        if let Some(rest) = name.strip_prefix("optimizer.") {
            if let Some(t) = ckpt.tensors.remove(&name) {
                opt_state.insert(rest.to_string(), t.to_device(model.device())?);
            }
        }
    }
    checkpoint::load_into(model, &ckpt, path)?;
    optimizer.restore(opt_state, steps);
    Ok(Some((epochs_done, records)))
}

/// A key identifying a training run's inputs (for resumable state).
pub fn run_key(model: &Model, data: &DataView, recipe: &Recipe, seed: u64) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(recipe.to_json().as_bytes());
    h.update(seed.to_le_bytes());
    h.update(model.spec().arch.name().as_bytes());
    h.update(model.store().seed().to_le_bytes());
    for i in data.indices {
        h.update(i.to_le_bytes());
    }
    h.update(data.images.len().to_le_bytes());
    hex::encode(h.finalize())
}

/// Trains `model` in place on `data` with `recipe`: seeded epoch order and augmentation,
/// cross-entropy, the recipe's optimiser and schedule. Stops with [`TrainError::Diverged`]
/// on a non-finite loss or weight. With `opts.state_path`, the model and optimiser state are
/// saved after every epoch and a rerun resumes from there, ending with the same bytes as an
/// uninterrupted run.
pub fn train(
    model: &Model,
    data: &DataView,
    recipe: &Recipe,
    seed: u64,
    mut opts: RunOptions,
) -> Result<TrainRecord> {
    recipe.validate()?;
    if data.is_empty() {
        return Err(TrainError::EmptySet("training data".into()));
    }
    let start = Instant::now();
    let mut optimizer = Optimizer::new(
        recipe.optimizer.clone(),
        model.store().parameters(),
        recipe.clip_grad_norm,
    )?;
    let key = run_key(model, data, recipe, seed);
    let recipe_json = recipe.to_json();
    let run = RunIdentity {
        key: &key,
        seed,
        recipe_json: &recipe_json,
    };
    let mut first_epoch = 0;
    let mut records = Vec::new();
    let mut resumed_from = None;
    if let Some(path) = &opts.state_path {
        if let Some((done, recs)) = load_state(path, model, &mut optimizer, &run)? {
            first_epoch = done;
            records = recs;
            resumed_from = Some(done);
        }
    }
    let steps_per_epoch = data.len().div_ceil(recipe.batch_size);
    let base_lr = recipe.optimizer.lr();
    let pb = progress_bar(
        (recipe.epochs * steps_per_epoch) as u64,
        "train",
        opts.progress,
    );
    pb.set_position((first_epoch * steps_per_epoch) as u64);
    for epoch in first_epoch..recipe.epochs {
        let t0 = Instant::now();
        let order = data.epoch_order(seed, epoch);
        let mut rng = unlearn_data::rng::seeded(seed, &format!("augment-epoch-{epoch}"));
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0usize, 0usize);
        let mut first_lr = 0.0;
        for (step, chunk) in order.chunks(recipe.batch_size).enumerate() {
            let lr = recipe
                .schedule
                .lr_at(base_lr, epoch, step, steps_per_epoch, recipe.epochs);
            if step == 0 {
                first_lr = lr;
            }
            optimizer.set_lr(lr);
            let batch = data.batch(chunk, model.device(), Some(&mut rng))?;
            let logits = model.forward(&batch.x, true)?;
            let loss = cross_entropy(&logits, &batch.y)?;
            correct += count_correct(&logits.detach(), &batch.y)?;
            let l = backward_step(&mut optimizer, &loss, epoch, step)?;
            loss_sum += l * chunk.len() as f64;
            seen += chunk.len();
            pb.inc(1);
        }
        check_weights(model, epoch)?;
        let seconds = t0.elapsed().as_secs_f64();
        let rec = EpochRecord {
            epoch: epoch + 1,
            loss: loss_sum / seen.max(1) as f64,
            train_acc: 100.0 * correct as f64 / seen.max(1) as f64,
            lr: first_lr,
            seconds,
            images_per_second: seen as f64 / seconds.max(1e-9),
        };
        pb.set_message(format!(
            "epoch {} loss {:.4} acc {:.2}%",
            rec.epoch, rec.loss, rec.train_acc
        ));
        if let Some(log) = opts.log.as_mut() {
            let line = serde_json::to_string(&rec).unwrap_or_default();
            writeln!(log, "{line}").map_err(|source| TrainError::Io {
                path: PathBuf::from("<log>"),
                source,
            })?;
        }
        records.push(rec);
        if let Some(path) = &opts.state_path {
            if epoch + 1 < recipe.epochs {
                save_state(path, model, &optimizer, epoch + 1, &run, &records)?;
            }
        }
    }
    pb.finish_and_clear();
    if let Some(path) = &opts.state_path {
        let _ = std::fs::remove_file(path);
    }
    Ok(TrainRecord {
        recipe: recipe.clone(),
        seed,
        epochs: records,
        seconds: start.elapsed().as_secs_f64(),
        resumed_from,
    })
}

/// Accuracy and mean loss of a model on a set.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Evaluation {
    /// Correct predictions.
    pub correct: usize,
    /// Samples.
    pub total: usize,
    /// Accuracy in percent (NaN for an empty set).
    pub accuracy: f64,
    /// Mean cross-entropy.
    pub loss: f64,
}

/// Runs `model` in eval mode over `data` in batches of `batch_size` and calls `f` with each
/// batch and its logits and features.
pub fn for_each_batch<F>(model: &Model, data: &DataView, batch_size: usize, mut f: F) -> Result<()>
where
    F: FnMut(&Batch, &Tensor, &Tensor) -> Result<()>,
{
    for chunk in data.indices.chunks(batch_size.max(1)) {
        let batch = data.batch(chunk, model.device(), None)?;
        let feats = model.features(&batch.x, false)?;
        let logits = model.head(&feats)?;
        f(&batch, &logits, &feats)?;
    }
    Ok(())
}

/// Accuracy of `model` on `data` (eval mode, no augmentation).
pub fn evaluate(model: &Model, data: &DataView, batch_size: usize) -> Result<Evaluation> {
    let (mut correct, mut loss_sum) = (0usize, 0f64);
    for_each_batch(model, data, batch_size, |b, logits, _| {
        correct += count_correct(logits, &b.y)?;
        let l = cross_entropy(logits, &b.y)?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        loss_sum += l * b.indices.len() as f64;
        Ok(())
    })?;
    let total = data.len();
    Ok(Evaluation {
        correct,
        total,
        accuracy: if total == 0 {
            f64::NAN
        } else {
            100.0 * correct as f64 / total as f64
        },
        loss: if total == 0 {
            f64::NAN
        } else {
            loss_sum / total as f64
        },
    })
}

/// What an objective asks [`optimize_pass`] to do with one batch.
pub enum Step {
    /// Back-propagate this scalar loss and take an optimiser step.
    Update(Tensor),
    /// Take the step, then end the pass (a stopping rule fired on this batch).
    UpdateThenStop(Tensor),
    /// Leave this batch out (no step) and go on.
    Skip,
    /// End the pass now, without a step on this batch.
    Stop,
}

/// How [`optimize_pass`] walks its data.
pub struct PassOptions<'a> {
    /// Mini-batch size.
    pub batch_size: usize,
    /// Epoch number (0-based): reported in divergence errors.
    pub epoch: usize,
    /// Augmentation stream: batches are augmented (with the view's augmentation) when given.
    pub augment: Option<&'a mut rand_chacha::ChaCha8Rng>,
    /// Per-parameter update masks for [`Optimizer::step_masked`] (0 = leave bit-identical).
    pub masks: Option<&'a BTreeMap<String, Tensor>>,
    /// Progress bar to advance by one per batch.
    pub progress: Option<&'a ProgressBar>,
    /// The phase of the method's loop these steps belong to (the trace's `stage`).
    pub stage: &'a str,
    /// Where to append one line per step ([`Trace`]).
    pub trace: Option<&'a mut Trace>,
}

/// What one [`optimize_pass`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PassSummary {
    /// Optimiser steps taken.
    pub steps: usize,
    /// Samples in the batches that were stepped on.
    pub samples: usize,
    /// Sample-weighted mean of the stepped losses (NaN when no step was taken).
    pub mean_loss: f64,
    /// Whether the objective ended the pass early ([`Step::Stop`] / [`Step::UpdateThenStop`]).
    pub stopped: bool,
}

/// One optimisation pass over `order` (indices into `data.images`, visited in this order in
/// chunks of `opts.batch_size`): builds each batch (augmented when `opts.augment` is given),
/// asks `objective` for the batch's loss (the objective runs the model's forward pass, so it
/// decides train/eval mode, which tensors are detached, relabelling, teachers, …), then
/// back-propagates and steps `optimizer` (masked by `opts.masks`). A non-finite loss stops the
/// pass with [`TrainError::Diverged`]; after the pass every parameter is checked to be finite.
///
/// This is the loop every unlearning method shares; the learning rate is whatever the caller
/// set on `optimizer` before the pass. With `opts.trace`, every step appends a line
/// ([`crate::trace`]); the objective describes its step through the [`StepInfo`] it is given
/// (the targets the loss used, a second batch, named fields).
pub fn optimize_pass<F>(
    model: &Model,
    optimizer: &mut Optimizer,
    data: &DataView,
    order: &[u32],
    mut opts: PassOptions,
    mut objective: F,
) -> Result<PassSummary>
where
    F: FnMut(&Batch, &mut StepInfo) -> Result<Step>,
{
    if opts.batch_size == 0 {
        return Err(TrainError::InvalidHyperParameter {
            name: "batch_size".into(),
            value: "0".into(),
            expected: "at least 1".into(),
        });
    }
    let (mut loss_sum, mut samples, mut steps, mut stopped) = (0f64, 0usize, 0usize, false);
    for (step, chunk) in order.chunks(opts.batch_size).enumerate() {
        let batch = data.batch(chunk, model.device(), opts.augment.as_deref_mut())?;
        let mut info = StepInfo::new(step, opts.trace.is_some());
        let (loss, stop_after) = match objective(&batch, &mut info)? {
            Step::Update(l) => (l, false),
            Step::UpdateThenStop(l) => (l, true),
            Step::Skip => continue,
            Step::Stop => {
                stopped = true;
                break;
            }
        };
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        check_finite(value, "loss", opts.epoch, step)?;
        let grads = loss.backward()?;
        let lr = optimizer.lr();
        optimizer.step_masked(&grads, opts.masks)?;
        if let Some(trace) = opts.trace.as_deref_mut() {
            trace.record(info.into_line(&batch, opts.stage, opts.epoch, lr, value)?);
        }
        loss_sum += value * chunk.len() as f64;
        samples += chunk.len();
        steps += 1;
        if let Some(pb) = opts.progress {
            pb.inc(1);
        }
        if stop_after {
            stopped = true;
            break;
        }
    }
    check_weights(model, opts.epoch)?;
    Ok(PassSummary {
        steps,
        samples,
        mean_loss: if samples == 0 {
            f64::NAN
        } else {
            loss_sum / samples as f64
        },
        stopped,
    })
}

/// Sum over the batches of `data` (in index order, no augmentation) of the gradient of
/// `loss_fn(batch)` with respect to each trainable parameter of `model`, by parameter name.
/// Nothing is updated; `loss_fn` runs the forward pass (in eval mode, typically, so that
/// BatchNorm statistics stay as they are). Used for saliency maps (SalUn).
pub fn gradient_sum<F>(
    model: &Model,
    data: &DataView,
    batch_size: usize,
    mut loss_fn: F,
) -> Result<BTreeMap<String, Tensor>>
where
    F: FnMut(&Batch) -> Result<Tensor>,
{
    let params = model.store().parameters();
    let mut sums: BTreeMap<String, Tensor> = BTreeMap::new();
    for (i, chunk) in data.indices.chunks(batch_size.max(1)).enumerate() {
        let batch = data.batch(chunk, model.device(), None)?;
        let loss = loss_fn(&batch)?;
        let value = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
        check_finite(value, "loss", 0, i)?;
        let grads = loss.backward()?;
        for (name, var) in &params {
            if let Some(g) = grads.get(var) {
                let g = g.detach();
                let sum = match sums.remove(name) {
                    Some(s) => (s + g)?,
                    None => g,
                };
                sums.insert(name.clone(), sum);
            }
        }
    }
    Ok(sums)
}

/// Like [`check_weights`], and also refuses weights whose magnitude exceeds `limit`
/// (exploding weights), reporting the first offending tensor as [`TrainError::Diverged`].
pub fn check_weights_bounded(model: &Model, epoch: usize, limit: f64) -> Result<()> {
    for (name, var) in model.store().parameters() {
        let s = var
            .as_tensor()
            .abs()?
            .max_all()?
            .to_dtype(DType::F64)?
            .to_scalar::<f64>()?;
        check_finite(s, &format!("max |{name}|"), epoch, 0)?;
        if s > limit {
            return Err(TrainError::Diverged {
                epoch,
                step: 0,
                what: format!("max |{name}| (limit {limit:e})"),
                value: s,
            });
        }
    }
    Ok(())
}
