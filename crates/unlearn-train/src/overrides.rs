//! Field-by-field changes to a preset's recipe: what `unlearn train`'s options set.

use crate::error::{Result, TrainError};
use crate::optim::{AdamWConfig, OptimizerConfig, SgdConfig};
use crate::recipe::Recipe;
use crate::schedule::Schedule;

/// Which optimiser to train with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptimizerKind {
    /// SGD at the recipe's learning rate, no momentum or decay unless set.
    Sgd,
    /// AdamW with its defaults.
    AdamW,
}

/// Changes to a recipe; `None` (or `false`) keeps the recipe's value.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecipeOverrides {
    /// Epochs.
    pub epochs: Option<usize>,
    /// Mini-batch size.
    pub batch_size: Option<usize>,
    /// Another optimiser (applied before the fields below).
    pub optimizer: Option<OptimizerKind>,
    /// Base learning rate.
    pub lr: Option<f64>,
    /// SGD momentum.
    pub momentum: Option<f64>,
    /// SGD Nesterov momentum.
    pub nesterov: bool,
    /// Weight decay.
    pub weight_decay: Option<f64>,
    /// The main schedule.
    pub schedule: Option<Schedule>,
    /// Linear warm-up epochs.
    pub warmup_epochs: Option<usize>,
    /// Global-norm gradient clipping.
    pub clip_grad_norm: Option<f64>,
}

impl RecipeOverrides {
    /// `recipe` with these changes, checked ([`Recipe::validate`]). Momentum or Nesterov on
    /// AdamW is an error that says so.
    pub fn apply(&self, mut r: Recipe) -> Result<Recipe> {
        if let Some(e) = self.epochs {
            r.epochs = e;
        }
        if let Some(b) = self.batch_size {
            r.batch_size = b;
        }
        if let Some(kind) = self.optimizer {
            let lr = r.optimizer.lr();
            r.optimizer = match kind {
                OptimizerKind::Sgd => OptimizerConfig::Sgd(SgdConfig {
                    lr,
                    ..Default::default()
                }),
                OptimizerKind::AdamW => OptimizerConfig::AdamW(AdamWConfig::default()),
            };
        }
        if let Some(lr) = self.lr {
            r.optimizer.set_lr(lr);
        }
        match &mut r.optimizer {
            OptimizerConfig::Sgd(c) => {
                if let Some(m) = self.momentum {
                    c.momentum = m;
                }
                if self.nesterov {
                    c.nesterov = true;
                }
                if let Some(w) = self.weight_decay {
                    c.weight_decay = w;
                }
            }
            OptimizerConfig::AdamW(c) => {
                if self.momentum.is_some() || self.nesterov {
                    let (name, value) = match self.momentum {
                        Some(m) => ("momentum", m.to_string()),
                        None => ("nesterov", "true".to_string()),
                    };
                    return Err(TrainError::InvalidHyperParameter {
                        name: name.into(),
                        value,
                        expected: "momentum and Nesterov apply to SGD, not AdamW".into(),
                    });
                }
                if let Some(w) = self.weight_decay {
                    c.weight_decay = w;
                }
            }
        }
        if let Some(s) = &self.schedule {
            r.schedule.schedule = s.clone();
        }
        if let Some(w) = self.warmup_epochs {
            r.schedule.warmup_epochs = w;
        }
        if let Some(c) = self.clip_grad_norm {
            r.clip_grad_norm = Some(c);
        }
        r.validate()?;
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_change_only_what_they_name() {
        let base = Recipe::for_preset(crate::Preset::Quick);
        assert_eq!(
            RecipeOverrides::default().apply(base.clone()).unwrap(),
            base
        );
        let r = RecipeOverrides {
            epochs: Some(3),
            lr: Some(0.01),
            schedule: Some("multistep:2,4:0.5".parse().unwrap()),
            ..Default::default()
        }
        .apply(base.clone())
        .unwrap();
        assert_eq!(r.epochs, 3);
        assert_eq!(r.optimizer.lr(), 0.01);
        assert_eq!(
            r.schedule.schedule,
            Schedule::MultiStep {
                milestones: vec![2, 4],
                gamma: 0.5
            }
        );
        assert_eq!(r.batch_size, base.batch_size);
    }

    #[test]
    fn momentum_on_adamw_is_refused() {
        let e = RecipeOverrides {
            optimizer: Some(OptimizerKind::AdamW),
            momentum: Some(0.9),
            ..Default::default()
        }
        .apply(Recipe::for_preset(crate::Preset::Quick))
        .unwrap_err();
        assert!(e.to_string().contains("not AdamW"), "{e}");
    }

    #[test]
    fn schedules_parse_or_say_what_is_expected() {
        assert_eq!("constant".parse::<Schedule>(), Ok(Schedule::Constant));
        assert_eq!(
            "multistep:91,136".parse::<Schedule>(),
            Ok(Schedule::MultiStep {
                milestones: vec![91, 136],
                gamma: 0.1
            })
        );
        let e = "step".parse::<Schedule>().unwrap_err();
        assert!(e.contains("expected constant, cosine"), "{e}");
        let e = "multistep:a".parse::<Schedule>().unwrap_err();
        assert!(e.contains("'a' is not an epoch"), "{e}");
    }
}
