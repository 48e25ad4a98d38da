//! The operations every front end shares: loading, training, unlearning, measuring. The
//! `unlearn` subcommands and the pipeline's steps call these, so there is one loader, one
//! shape check, one ASR and one reference-metrics cache.

mod forget;
mod given;
mod import;
mod load;
mod measure;
mod oracle_test;
mod provenance;
mod train;

pub use forget::{
    check_method, forget_checkpoint, preset_of_original, record_path, unlearn_model, ForgetJob,
    ForgetOutcome,
};
pub use given::{describe_given, given_models, GivenModels};
pub use import::{import_checkpoint, ImportJob, ImportReport};
pub use load::{
    adopt_normalization, check_fits, dataset_for, input_normalization, load_dataset, load_model,
    load_model_with, load_split, resolve_source, LoadOptions, LoadedModel, ModelSource,
};
pub use measure::{
    compared, extract_features, measure_bundles, measure_files, metrics_config, metrics_json,
    reference_cache_path, reference_report, save_features, write_plot_data,
};
pub use oracle_test::oracle_test_files;
pub use provenance::{
    check_bundle_split, check_bundles_agree, check_checkpoint, check_scenario, ModelRole,
    OnMismatch,
};
pub use train::{
    logged_train_seconds, state_path, train_checkpoint, Subset, TrainJob, TrainSummary,
};
pub use unlearn_features::backdoor_asr;
