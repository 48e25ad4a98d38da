//! Downloading a checkpoint through `hf-hub` from a hub served on 127.0.0.1
//! (`support/hub_server.rs`).

#[path = "support/hub_server.rs"]
mod hub_server;

use std::collections::BTreeMap;

use candle_core::Device;
use hub_server::{resolve_path, HubServer};
use unlearn_models::{checkpoint, hub, Arch, CheckpointMeta, Model, ModelSpec};

#[test]
fn downloads_into_the_cache_then_works_offline() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.safetensors");
    let spec = ModelSpec {
        arch: Arch::SmallCnn,
        input_shape: [1, 28, 28],
        num_classes: 10,
    };
    let model = Model::new(&spec, &Device::Cpu, 5).unwrap();
    checkpoint::save(&model, &CheckpointMeta::for_model(&model), &src).unwrap();
    let body = std::fs::read(&src).unwrap();

    let server = HubServer::start(BTreeMap::from([(
        resolve_path("unlearn/cnn", "main", "model.safetensors"),
        body.clone(),
    )]));
    let cache = dir.path().join("hub-cache");
    std::env::set_var("HF_HUB_CACHE", &cache);
    std::env::set_var("HF_ENDPOINT", server.endpoint());
    std::env::remove_var("HF_HUB_OFFLINE");
    let path = hub::resolve_checkpoint("hf://unlearn/cnn/model.safetensors").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), body);
    let (loaded, meta) = checkpoint::load(&path, &Device::Cpu).unwrap();
    assert_eq!(meta.arch, unlearn_models::Arch::SmallCnn);
    assert_eq!(loaded.spec(), &spec);
    // A file the server does not have is a download error naming it.
    let err = hub::resolve_checkpoint("hf://unlearn/cnn/missing.safetensors")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing.safetensors"), "{err}");
    drop(server);

    // Now offline: the cached copy is found without the server.
    std::env::set_var("HF_HUB_OFFLINE", "1");
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");
    let again = hub::resolve_checkpoint("hf://unlearn/cnn/model.safetensors").unwrap();
    assert_eq!(std::fs::read(again).unwrap(), body);
}
