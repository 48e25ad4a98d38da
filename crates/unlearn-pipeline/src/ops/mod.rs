//! The operations every front end shares: loading, training, unlearning, measuring. The
//! `unlearn` subcommands and the pipeline's steps call these, so there is one loader, one
//! shape check, one ASR and one reference-metrics cache.

mod forget;
mod load;
mod measure;
mod provenance;
mod train;

pub use forget::{
    check_method, forget_checkpoint, preset_of_original, record_path, unlearn_model, ForgetJob,
    ForgetOutcome,
};
pub use load::{
    check_fits, default_preset, load_dataset, load_model, load_split, train_identity, LoadedModel,
};
pub use measure::{
    backdoor_asr, compared, extract_features, measure_bundles, measure_files, metrics_config,
    metrics_json, parse_classes, reference_cache_path, reference_report, save_features,
    write_plot_data,
};
pub use provenance::{
    check_bundle_split, check_bundles_agree, check_checkpoint, check_scenario, ModelRole,
    OnMismatch,
};
pub use train::{
    logged_train_seconds, state_path, train_checkpoint, Subset, TrainJob, TrainSummary,
};
