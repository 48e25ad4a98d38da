//! Learning-rate schedules (stepped per epoch as PyTorch's schedulers are), with an optional
//! linear warm-up stepped per batch.

use serde::{Deserialize, Serialize};

/// The main schedule after warm-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Schedule {
    /// The base learning rate throughout.
    Constant,
    /// `MultiStepLR`: multiply by `gamma` at each milestone epoch.
    MultiStep {
        /// Epochs at which the rate decays.
        milestones: Vec<usize>,
        /// Decay factor.
        gamma: f64,
    },
    /// `CosineAnnealingLR(T_max = epochs, eta_min)`.
    Cosine {
        /// Floor of the rate.
        eta_min: f64,
    },
}

/// A schedule with warm-up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LrSchedule {
    /// The main schedule.
    pub schedule: Schedule,
    /// Warm-up epochs (linear from `warmup_start_factor · lr` to `lr`, per batch).
    pub warmup_epochs: usize,
    /// Starting factor of the warm-up.
    pub warmup_start_factor: f64,
}

impl Default for LrSchedule {
    fn default() -> Self {
        Self {
            schedule: Schedule::Constant,
            warmup_epochs: 0,
            warmup_start_factor: 0.1,
        }
    }
}

impl LrSchedule {
    /// The learning rate for batch `step` (0-based) of `epoch` (0-based).
    pub fn lr_at(
        &self,
        base_lr: f64,
        epoch: usize,
        step: usize,
        steps_per_epoch: usize,
        total_epochs: usize,
    ) -> f64 {
        let main = match &self.schedule {
            Schedule::Constant => base_lr,
            Schedule::MultiStep { milestones, gamma } => {
                let passed = milestones.iter().filter(|&&m| m <= epoch).count();
                base_lr * gamma.powi(passed as i32)
            }
            Schedule::Cosine { eta_min } => {
                let t = total_epochs.max(1) as f64;
                eta_min
                    + (base_lr - eta_min) * (1.0 + (std::f64::consts::PI * epoch as f64 / t).cos())
                        / 2.0
            }
        };
        if epoch < self.warmup_epochs {
            let total = (self.warmup_epochs * steps_per_epoch.max(1)) as f64;
            let done = (epoch * steps_per_epoch.max(1) + step) as f64;
            let f = self.warmup_start_factor + (1.0 - self.warmup_start_factor) * (done / total);
            main * f
        } else {
            main
        }
    }
}

impl std::str::FromStr for Schedule {
    type Err = String;

    /// `constant`, `cosine` (to 0) or `multistep:E1,E2[:gamma]` (gamma 0.1 unless given),
    /// the `--schedule` syntax.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "constant" => return Ok(Schedule::Constant),
            "cosine" => return Ok(Schedule::Cosine { eta_min: 0.0 }),
            _ => {}
        }
        let rest = s.strip_prefix("multistep:").ok_or_else(|| {
            format!("unknown schedule '{s}': expected constant, cosine or multistep:E1,E2[:gamma]")
        })?;
        let (epochs, gamma) = match rest.split_once(':') {
            Some((e, g)) => (
                e,
                g.parse::<f64>()
                    .map_err(|_| format!("schedule gamma '{g}' is not a number"))?,
            ),
            None => (rest, 0.1),
        };
        let milestones = epochs
            .split(',')
            .map(|e| {
                e.trim()
                    .parse::<usize>()
                    .map_err(|_| format!("milestone '{e}' is not an epoch number"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Schedule::MultiStep { milestones, gamma })
    }
}
