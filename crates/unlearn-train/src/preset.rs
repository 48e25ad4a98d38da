//! The named presets of the specification (section 5) as a closed set.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, TrainError};
use crate::recipe::Recipe;

/// A preset: a training recipe plus the data, architecture and scenarios a study uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// The embedded Fashion-MNIST subset, small CNN, 8 epochs (CPU, minutes).
    Quick,
    /// Full Fashion-MNIST, small CNN, 15 epochs.
    Fmnist,
    /// CIFAR-10, ResNet-18 (CIFAR stem), 182 epochs.
    Cifar10,
    /// CIFAR-100, ResNet-18 (CIFAR stem), 182 epochs.
    Cifar100,
}

impl Preset {
    /// The preset that fits a data source when none is named: `quick` for the embedded
    /// subset, `cifar10` / `cifar100` for CIFAR, `fmnist` for any other data (a user's own included).
    pub fn for_source(source: &unlearn_data::DataSource) -> Preset {
        use unlearn_data::DataSource;
        match source {
            DataSource::Embedded => Preset::Quick,
            DataSource::Cifar10 { .. } => Preset::Cifar10,
            DataSource::Cifar100 { .. } => Preset::Cifar100,
            DataSource::FashionMnist { .. }
            | DataSource::Mnist { .. }
            | DataSource::Idx { .. }
            | DataSource::ImageFolder { .. }
            | DataSource::Parquet { .. }
            | DataSource::HubDataset { .. } => Preset::Fmnist,
        }
    }

    /// Every preset, in the order the documentation lists them.
    pub const ALL: [Preset; 4] = [
        Preset::Quick,
        Preset::Fmnist,
        Preset::Cifar10,
        Preset::Cifar100,
    ];

    /// The preset's name, as on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Preset::Quick => "quick",
            Preset::Fmnist => "fmnist",
            Preset::Cifar10 => "cifar10",
            Preset::Cifar100 => "cifar100",
        }
    }

    /// The preset's training recipe.
    pub fn recipe(self) -> Recipe {
        Recipe::for_preset(self)
    }

    /// The data source a study of this preset reads by default (`unlearn --data` syntax).
    pub fn default_data(self) -> &'static str {
        match self {
            Preset::Quick => "embedded",
            Preset::Fmnist => "fashion-mnist",
            Preset::Cifar10 => "cifar10",
            Preset::Cifar100 => "cifar100",
        }
    }

    /// Whether the preset trains a ResNet-18 with the CIFAR stem rather than the
    /// data's default architecture.
    pub fn uses_resnet(self) -> bool {
        matches!(self, Preset::Cifar10 | Preset::Cifar100)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Preset {
    type Err = TrainError;

    fn from_str(s: &str) -> Result<Self> {
        Preset::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| TrainError::UnknownPreset(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_round_trips_and_has_a_recipe() {
        for p in Preset::ALL {
            assert_eq!(p.as_str().parse::<Preset>().unwrap(), p);
            assert_eq!(Recipe::preset(p.as_str()).unwrap().preset, p.as_str());
            assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
        }
        assert!("quik".parse::<Preset>().is_err());
    }
}
