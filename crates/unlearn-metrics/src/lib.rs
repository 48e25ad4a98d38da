//! Unlearning metrics that depend on no model code: give them features, logits
//! and labels per split (a [`FeatureBundle`]) and they return a
//! [`MetricsReport`].
//!
//! # What is measured (spec §3)
//!
//! * **Output space** ([`output`], [`mia`]): FA, UA = 100 − FA, RA, TA (argmax
//!   accuracy, percent), VA when a validation split is present, TA on remaining
//!   and forgotten classes in the class scenario, ASR in the backdoor scenario,
//!   and MIA-efficacy in five variants with an RBF SVC ([`svm`], a Rust port of
//!   libsvm's SMO solver so that predictions match `sklearn.svm.SVC`).
//! * **Feature space** ([`da`], [`lp`], [`cluster`]): dimensional alignment of
//!   forget/test features with the retain eigenspace (plus curves, a subspace
//!   variant and the retain spectrum), linear-probe accuracy of an L2 logistic
//!   regression fitted on half of the test set, and NMI / pairwise F1 of
//!   k-means clusters.
//! * **Gaps** ([`compare`](mod@compare)): distance of a report to an oracle distribution of
//!   retrained models, averaged as in SalUn (output) and over DA_f, LP_f, NMI,
//!   F1 (feature).
//! * **Oracle ensembles** ([`oracle`]): per-example kernels that compare M runs of a
//!   method with K retrained oracle models: clipped margins, KLoM (KL between the
//!   method's and the oracle's margin histograms, P50 / P95), a per-example
//!   likelihood-ratio attack with its ROC (AUC, TPR at low FPR, Hanley–McNeil
//!   interval), and the feature energy outside the retain subspace; and the whole
//!   per-example test of a method's models against an oracle ensemble on margins and
//!   energies ([`oracle::ensemble_test`]).
//!
//! # Design
//!
//! Everything numeric is computed in `f64` from `f32` inputs. Dense products
//! go through `gemm` and the eigendecomposition through `nalgebra`, both behind
//! [`linalg`]. All randomness (the DA reference subsample, the LP split,
//! k-means seeding, the permutations) comes from one `ChaCha8Rng` stream per purpose,
//! derived from [`MetricsConfig::seed`] ([`streams`]).
//! Errors are one typed enum, [`MetricsError`]; no input can make the library
//! panic.
//!
//! # Observed on trained models
//!
//! What DA and the linear probe showed on models trained with the `quick` recipe (DA does
//! not separate the original from the retrain model on `random:0.1`; the linear probe
//! does) is in the repository's `docs/metrics-observed.md`.
//!
//! # Example
//!
//! ```
//! use unlearn_metrics::{evaluate, FeatureBundle, Matrix, MetricsConfig, SplitData};
//!
//! // Three classes in 4-D; class c lives along axis c, logits favour the true class.
//! fn split(name: &str, n: usize, shift: usize) -> SplitData {
//!     let (mut f, mut l, mut y) = (Vec::new(), Vec::new(), Vec::new());
//!     for i in 0..n {
//!         let c = (i + shift) % 3;
//!         let mut row = [0.05 * (i % 5) as f32; 4];
//!         row[c] += 1.0;
//!         f.extend_from_slice(&row);
//!         let mut logit = [0.0f32; 3];
//!         logit[c] = 2.0 + (i % 7) as f32 * 0.3;
//!         l.extend_from_slice(&logit);
//!         y.push(c as u32);
//!     }
//!     SplitData::new(name, Matrix::new(n, 4, f).unwrap(), Matrix::new(n, 3, l).unwrap(), y)
//!         .unwrap()
//! }
//! let bundle = FeatureBundle::new(
//!     split("retain", 60, 0),
//!     split("forget", 12, 1),
//!     split("test", 40, 2),
//!     None,
//!     None,
//!     Default::default(),
//! )?;
//! let report = evaluate(&bundle, &MetricsConfig::default())?;
//! assert_eq!(report.ua, 0.0);
//! assert_eq!(report.da.k, 3);
//! assert!(report.da.forget > 0.9 && report.nmi > 0.99);
//! println!("{}", unlearn_metrics::render_table(&report, None));
//! # Ok::<(), unlearn_metrics::MetricsError>(())
//! ```
#![deny(missing_docs)]

pub mod cluster;
pub mod compare;
pub mod da;
mod error;
pub mod features_file;
pub mod figures;
pub mod linalg;
pub mod lp;
mod matrix;
pub mod mia;
pub mod oracle;
pub mod output;
pub mod report;
pub mod streams;

/// Bumped when a metric computes other values from the same inputs, so that a study's
/// stored metrics (and searches scored by them) are not reused across the change.
/// `metrics/2`: every random choice draws from its own stream ([`streams`]).
pub const METRICS_VERSION: &str = "metrics/2";
pub mod svm;

pub use compare::{compare, render_table, ComparedReport, Comparison, ReferenceSummary, Stat};
pub use da::{da_with_basis, retain_basis, KRule, RetainBasis, RetainEigen};
pub use error::{MetricsError, Result};
pub use features_file::{FeatureBundle, SplitData, TriggeredData};
pub use lp::{LogRegParams, LogisticRegression, LpReport};
pub use matrix::Matrix;
pub use mia::MiaReport;
pub use report::{evaluate, Curves, DaReport, MetricsConfig, MetricsReport, MIN_SET_SIZE};
