//! The per-example tests of `--oracles`: a model name's member features against the
//! oracle ensemble's, through [`unlearn_metrics::oracle::ensemble_test`].

use std::path::PathBuf;

use unlearn_metrics::oracle::{ensemble_test, example_values, EnsembleParams, EnsembleTest};
use unlearn_metrics::FeatureBundle;

use crate::error::{OpsError, Result};

/// Loads every features file in turn (one bundle in memory at a time), takes its
/// per-example values on the forget set, and tests the `method` models against the
/// `oracles`. An error names the file it comes from.
pub fn oracle_test_files(
    method: &[PathBuf],
    oracles: &[PathBuf],
    params: &EnsembleParams,
) -> Result<EnsembleTest> {
    let values = |paths: &[PathBuf]| {
        paths
            .iter()
            .map(|p| {
                let bundle = FeatureBundle::load(p)?;
                example_values(&bundle, params).map_err(|e| OpsError::Step {
                    step: format!("per-example values of {}", p.display()),
                    error: Box::new(e.into()),
                })
            })
            .collect::<Result<Vec<_>>>()
    };
    let (m, o) = (values(method)?, values(oracles)?);
    Ok(ensemble_test(&m, &o, params)?)
}
