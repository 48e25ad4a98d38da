//! The step trace: one JSON object per optimiser step, in order, with everything another
//! implementation needs to replay the run: which training images formed the batch, how
//! each was augmented, the targets the loss used, the learning rate and the loss value.
//!
//! A method's objective describes its step through [`StepInfo`] (the targets it used, a
//! second batch that entered the same step, named extra fields); [`crate::optimize_pass`]
//! adds what it knows (indices, augmentation, learning rate, the back-propagated loss) and
//! appends the line. Tracing only reads values: it never changes a weight.
//!
//! Each line holds:
//! - `step`: 0-based over the whole run; `epoch`: the method's 0-based epoch;
//! - `stage`: the phase of the method's loop (`retain`, `forget`, `max`, `min`, `recover`, …);
//! - `indices`: training-set indices of the batch rows, in stacking order (the numbering of
//!   the split manifest's lists);
//! - `labels`: the targets the loss used, in the same order;
//! - `augment`: `null`, or `{"padding": p, "crops": [[dy, dx, flip], …]}`, one crop per row
//!   (the window's top-left corner in the zero-padded image, then a horizontal flip);
//! - `lr`: the learning rate of the step; `loss`: the value that was back-propagated;
//! - `pair` (steps on two batches): `{"stage", "indices", "labels", "augment"}` of the second;
//! - named fields a method adds (SalUn's `mask_file`, BS's `flipped`, …).

use candle_core::Tensor;
use serde_json::{json, Map, Value};
use unlearn_data::{Augmentation, CropDraw};

use crate::engine::Batch;
use crate::error::Result;

/// An in-memory step trace; the caller writes it out when the run has finished (so a
/// failed run leaves no partial trace).
#[derive(Debug, Default)]
pub struct Trace {
    lines: Vec<u8>,
    next_step: u64,
    files: Vec<(String, Vec<u8>)>,
}

impl Trace {
    /// An empty trace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Steps recorded so far.
    pub fn steps(&self) -> u64 {
        self.next_step
    }

    /// The JSON Lines text.
    pub fn jsonl(&self) -> &[u8] {
        &self.lines
    }

    /// Files a method attached to the trace (name, bytes), written next to it.
    pub fn files(&self) -> &[(String, Vec<u8>)] {
        &self.files
    }

    /// Attaches a file (e.g. SalUn's mask) to be written next to the trace as
    /// `<trace file name>.<suffix>`; returns that suffix for a step field to name it.
    pub fn attach(&mut self, suffix: &str, bytes: Vec<u8>) -> String {
        self.files.push((suffix.to_string(), bytes));
        suffix.to_string()
    }

    /// Appends one step (keys in alphabetical order).
    pub(crate) fn record(&mut self, mut line: Map<String, Value>) {
        line.insert("step".into(), json!(self.next_step));
        self.next_step += 1;
        let text = Value::Object(line).to_string();
        self.lines.extend_from_slice(text.as_bytes());
        self.lines.push(b'\n');
    }
}

/// How a batch was augmented, as the trace writes it.
pub fn augment_json(augmentation: Augmentation, draws: Option<&[CropDraw]>) -> Value {
    match (augmentation, draws) {
        (Augmentation::CropFlip { padding }, Some(d)) if !d.is_empty() => json!({
            "padding": padding,
            "crops": d
                .iter()
                .map(|c| json!([c.dy, c.dx, u8::from(c.flip)]))
                .collect::<Vec<_>>(),
        }),
        _ => Value::Null,
    }
}

/// What a method's objective tells the engine about one step, for the trace.
#[derive(Debug)]
pub struct StepInfo {
    /// Position of the batch in the pass (0-based).
    pub index: usize,
    tracing: bool,
    labels: Option<Tensor>,
    pair: Option<Value>,
    extra: Map<String, Value>,
}

impl StepInfo {
    pub(crate) fn new(index: usize, tracing: bool) -> Self {
        Self {
            index,
            tracing,
            labels: None,
            pair: None,
            extra: Map::new(),
        }
    }

    /// Whether the run is traced: a method computes costly extra fields only then.
    pub fn tracing(&self) -> bool {
        self.tracing
    }

    /// The targets the loss used (when not the batch's own labels).
    pub fn labels(&mut self, labels: &Tensor) {
        self.labels = Some(labels.clone());
    }

    /// A second batch that entered this step (NegGrad+'s forget batch), with its targets.
    pub fn pair(&mut self, stage: &str, batch: &Batch, labels: &Tensor) -> Result<()> {
        if self.tracing {
            self.pair = Some(json!({
                "stage": stage,
                "indices": batch.indices,
                "labels": labels.to_vec1::<u32>()?,
                "augment": batch.augment_json(),
            }));
        }
        Ok(())
    }

    /// A named extra field of this step's line (ignored when not tracing).
    pub fn field(&mut self, name: &str, value: Value) {
        if self.tracing {
            self.extra.insert(name.to_string(), value);
        }
    }

    /// The line for this step.
    pub(crate) fn into_line(
        self,
        batch: &Batch,
        stage: &str,
        epoch: usize,
        lr: f64,
        loss: f64,
    ) -> Result<Map<String, Value>> {
        let labels = match &self.labels {
            Some(l) => l.to_vec1::<u32>()?,
            None => batch.y.to_vec1::<u32>()?,
        };
        let mut line = Map::new();
        line.insert("epoch".into(), json!(epoch));
        line.insert("stage".into(), json!(stage));
        line.insert("indices".into(), json!(batch.indices));
        line.insert("labels".into(), json!(labels));
        line.insert("augment".into(), batch.augment_json());
        line.insert("lr".into(), json!(lr));
        line.insert("loss".into(), json!(loss));
        if let Some(pair) = self.pair {
            line.insert("pair".into(), pair);
        }
        line.extend(self.extra);
        Ok(line)
    }
}
