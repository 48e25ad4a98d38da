//! Initial values are part of the contract: a seed must give the same bytes after any
//! refactoring. These digests were recorded for seed 0 before the ViT moved from a copied
//! `VarMap` to a `VarBuilder` over the `ParamStore`; a change to any of them means the
//! initialisation drifted. On a mismatch the test prints the table it computed.

use std::collections::{BTreeMap, BTreeSet};

use candle_core::{Device, Tensor};
use sha2::{Digest, Sha256};
use unlearn_models::{checkpoint, Arch, CheckpointMeta, Model, ModelSpec};

fn model(arch: Arch, input_shape: [usize; 3]) -> Model {
    let spec = ModelSpec {
        arch,
        input_shape,
        num_classes: 10,
    };
    Model::new(&spec, &Device::Cpu, 0).expect("model")
}

/// SHA-256 of a tensor's shape and little-endian f32 bytes.
fn tensor_sha(t: &Tensor) -> String {
    let mut h = Sha256::new();
    h.update(format!("{:?}", t.dims()).as_bytes());
    for v in t.flatten_all().unwrap().to_vec1::<f32>().unwrap() {
        h.update(v.to_le_bytes());
    }
    hex::encode(h.finalize())
}

/// SHA-256 of a checkpoint written by [`checkpoint::save`], without its `__metadata__`
/// (which names the crate version): the tensor table (names, dtypes, shapes, offsets) and
/// the data section, byte for byte.
fn checkpoint_sha(m: &Model) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("init.safetensors");
    checkpoint::save(m, &CheckpointMeta::for_model(m), &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut header: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert!(header.remove("__metadata__").is_some());
    let mut h = Sha256::new();
    h.update(serde_json::Value::Object(header).to_string().as_bytes());
    h.update(&bytes[8 + n..]);
    hex::encode(h.finalize())
}

/// `(arch, input shape, checkpoint_sha)` for seed 0, 10 classes.
const CHECKPOINTS: &[(&str, [usize; 3], &str)] = &[
    (
        "small-cnn",
        [1, 28, 28],
        "557c9c601c57512bb45596a9ef8b9b35202f766c6148a9eeba04fdc9ca06a250",
    ),
    (
        "small-cnn",
        [3, 32, 32],
        "d6fbed38c215bbb88afde34c7c27991c4ca7d149765cbf2ad76f2f800cd5f824",
    ),
    (
        "resnet18-cifar",
        [3, 32, 32],
        "633e3d028b248d1bee033c6d3d8f3d3a753b6c5735d1868414cdbc74035ef45d",
    ),
    (
        "vit-tiny",
        [3, 32, 32],
        "19e854ef2502f79e49c442e96f5142641192e2eaea9f28ef76a2d85d2b45f435",
    ),
];

/// Every tensor of ViT-tiny (3×32×32, 10 classes, seed 0): name and `tensor_sha`.
const VIT_TINY: &[(&str, &str)] = &[
    (
        "classifier.bias",
        "fa18dc697cde060bad12072559454be1bc884f7d19a7af683ac44f7d31b4a281",
    ),
    (
        "classifier.weight",
        "23125343f01ad45880dc3b31ee88a4e5bc8af130bb3be543ead904c3efc11332",
    ),
    (
        "vit.embeddings.cls_token",
        "973264157ccad809fc60e64429ce7fb32bceffea62b0720e93e3792fac0d6972",
    ),
    (
        "vit.embeddings.patch_embeddings.projection.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.embeddings.patch_embeddings.projection.weight",
        "5f454266bd2733b43f1e4c3d847e995f63c8349a5cee09cfe7a6502bfacd1c66",
    ),
    (
        "vit.embeddings.position_embeddings",
        "f7d6e9911340367201269f750332d1f43562373fba3c93fec0bd679cd218129d",
    ),
    (
        "vit.encoder.layer.0.attention.attention.key.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.0.attention.attention.key.weight",
        "ef841476cd3fc7f165aa4c74cd8bf51b1eb99a84cec75f9213bfe21bc2dfdf52",
    ),
    (
        "vit.encoder.layer.0.attention.attention.query.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.0.attention.attention.query.weight",
        "dd7305a20c599258e33fa3532f5a8d162282a3385d452108cdf76884769766c8",
    ),
    (
        "vit.encoder.layer.0.attention.attention.value.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.0.attention.attention.value.weight",
        "19e5999abcd2127d1b2a2c62da9839234197858bab572b1f820e2167665e6203",
    ),
    (
        "vit.encoder.layer.0.attention.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.0.attention.output.dense.weight",
        "0f65552e978e7bd969ff8da4374994fff9ffa1d9a836621f2fc792ce4f4f756b",
    ),
    (
        "vit.encoder.layer.0.intermediate.dense.bias",
        "7bcc48256e3476ffd0a6da0052b81843ce6212f8179c3964326aa8e1232ba6ab",
    ),
    (
        "vit.encoder.layer.0.intermediate.dense.weight",
        "3387550680fe92c1a28b4966177604d5a6ebfa8b15efba08aead7b28430a1209",
    ),
    (
        "vit.encoder.layer.0.layernorm_after.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.0.layernorm_after.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.0.layernorm_before.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.0.layernorm_before.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.0.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.0.output.dense.weight",
        "9f323b42157b732db35565d82adee71949a24669ab2a4ac226c6d972a97b67ca",
    ),
    (
        "vit.encoder.layer.1.attention.attention.key.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.1.attention.attention.key.weight",
        "7486ecfac15a47b33a7639a93e1baab596cb65faf0120886388a822f70fa963c",
    ),
    (
        "vit.encoder.layer.1.attention.attention.query.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.1.attention.attention.query.weight",
        "3e215f2cebbd6bf7393f5e529b67cd7a24223845042feb47026141ea2840cafe",
    ),
    (
        "vit.encoder.layer.1.attention.attention.value.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.1.attention.attention.value.weight",
        "a1a853bec95f5aec4379a7efd214d0b3dd54cef886a60616bbece8fc50b6b868",
    ),
    (
        "vit.encoder.layer.1.attention.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.1.attention.output.dense.weight",
        "94566ecf915f995898f4c27cee14a6a6c788dce7cc42b98db204ce09fef5d290",
    ),
    (
        "vit.encoder.layer.1.intermediate.dense.bias",
        "7bcc48256e3476ffd0a6da0052b81843ce6212f8179c3964326aa8e1232ba6ab",
    ),
    (
        "vit.encoder.layer.1.intermediate.dense.weight",
        "70f0741aeacf78e134d0f08f20b10dbae982eabd04ea0849af6746b4ffe27faf",
    ),
    (
        "vit.encoder.layer.1.layernorm_after.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.1.layernorm_after.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.1.layernorm_before.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.1.layernorm_before.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.1.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.1.output.dense.weight",
        "e79e86095687a18fa0a770260feaa02957e172b893797f589e483b1073ead52b",
    ),
    (
        "vit.encoder.layer.2.attention.attention.key.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.2.attention.attention.key.weight",
        "8c06dd7c145643f18967c8295cd8dc3e885db6ac36c5a1f049126633cfc7ca55",
    ),
    (
        "vit.encoder.layer.2.attention.attention.query.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.2.attention.attention.query.weight",
        "75a58d734838ff9bf230372b15d39079128c0a6376e4d06653c76249e283d690",
    ),
    (
        "vit.encoder.layer.2.attention.attention.value.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.2.attention.attention.value.weight",
        "46d33141f9465f9329e3864135d3bcd030725cfb12ee72a0975d8b7f455e8ac7",
    ),
    (
        "vit.encoder.layer.2.attention.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.2.attention.output.dense.weight",
        "faa738077fff5b8d866e4307e87231e08a557156d0bc1f5278cc1076d98d2d3e",
    ),
    (
        "vit.encoder.layer.2.intermediate.dense.bias",
        "7bcc48256e3476ffd0a6da0052b81843ce6212f8179c3964326aa8e1232ba6ab",
    ),
    (
        "vit.encoder.layer.2.intermediate.dense.weight",
        "f4789ad19a4f68d2c23f22df355d739046c2d56f76f42026870ac19a2ca95ac2",
    ),
    (
        "vit.encoder.layer.2.layernorm_after.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.2.layernorm_after.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.2.layernorm_before.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.2.layernorm_before.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.2.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.2.output.dense.weight",
        "bf727b2eb7eaaead75c99a5396e15c3a57774ec5af459d977030d49578a688d8",
    ),
    (
        "vit.encoder.layer.3.attention.attention.key.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.3.attention.attention.key.weight",
        "b2e9bf7828ae58d237a076910f600736009608c91eb7545a64abc9a078764546",
    ),
    (
        "vit.encoder.layer.3.attention.attention.query.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.3.attention.attention.query.weight",
        "3eef12eff078d8aaa107e3bb80442be47816662f97e8a463e066ed4d65098e95",
    ),
    (
        "vit.encoder.layer.3.attention.attention.value.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.3.attention.attention.value.weight",
        "87d5ed112baae848e16a88f5586780ba8c08734689c92d21bf645fbd8cbd5e54",
    ),
    (
        "vit.encoder.layer.3.attention.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.3.attention.output.dense.weight",
        "a9577ad3925303d25bc7b6826479fa087d3d8031a439444eb7e690322b8e35c9",
    ),
    (
        "vit.encoder.layer.3.intermediate.dense.bias",
        "7bcc48256e3476ffd0a6da0052b81843ce6212f8179c3964326aa8e1232ba6ab",
    ),
    (
        "vit.encoder.layer.3.intermediate.dense.weight",
        "2f9dd82e39d1ba3fc905aa4faec478c7ccbae6f9053ab4b407fe5efc3ac1d423",
    ),
    (
        "vit.encoder.layer.3.layernorm_after.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.3.layernorm_after.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.3.layernorm_before.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.3.layernorm_before.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.3.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.3.output.dense.weight",
        "645fafe12b7a996845e131a62a731aefd1e531c9d3a8954407e1d5d75618f067",
    ),
    (
        "vit.encoder.layer.4.attention.attention.key.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.4.attention.attention.key.weight",
        "73a1bf903cdc01fb5dcacc6d94bbeaf604f76cd5ee7c2121b1ceb99d667878dc",
    ),
    (
        "vit.encoder.layer.4.attention.attention.query.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.4.attention.attention.query.weight",
        "ba7d1fcb57edcfe0d1b67021a7e8da8ba5227a13c94c23c5513d697095fb96ba",
    ),
    (
        "vit.encoder.layer.4.attention.attention.value.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.4.attention.attention.value.weight",
        "62e229d44c81c78dc5c4bb097a4c1c0c3a7e7306507457f4bdb38be976c47dad",
    ),
    (
        "vit.encoder.layer.4.attention.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.4.attention.output.dense.weight",
        "ca618bda87df47b386d63e21bc2f1204fbe5e65c8f85a95caf431ae10dde5fd3",
    ),
    (
        "vit.encoder.layer.4.intermediate.dense.bias",
        "7bcc48256e3476ffd0a6da0052b81843ce6212f8179c3964326aa8e1232ba6ab",
    ),
    (
        "vit.encoder.layer.4.intermediate.dense.weight",
        "47d7fc87a14363c56c4445cc93aa6d90f8a908a8267446c9eddd2785d571793f",
    ),
    (
        "vit.encoder.layer.4.layernorm_after.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.4.layernorm_after.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.4.layernorm_before.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.4.layernorm_before.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.4.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.4.output.dense.weight",
        "43b42228a5bad9a77c7929765fbe19d01675b14f7d75969aa65f88b1f5b3a7ea",
    ),
    (
        "vit.encoder.layer.5.attention.attention.key.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.5.attention.attention.key.weight",
        "2978cacc9a4b7d9f9b2759ba479c290d4a1220627aabfb4b492095014e21662f",
    ),
    (
        "vit.encoder.layer.5.attention.attention.query.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.5.attention.attention.query.weight",
        "219b1957dc0989c5413667be19d16a0640506f63c9c43d1915e115f2818aa1ba",
    ),
    (
        "vit.encoder.layer.5.attention.attention.value.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.5.attention.attention.value.weight",
        "9c51c5fe011f99a860455ebe1280e516de58c2870ed068919f1502b671de6dcf",
    ),
    (
        "vit.encoder.layer.5.attention.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.5.attention.output.dense.weight",
        "f40dbd7b402671f8973c3a47ea3ee91caf1d388b61bb3057ec4007280301659a",
    ),
    (
        "vit.encoder.layer.5.intermediate.dense.bias",
        "7bcc48256e3476ffd0a6da0052b81843ce6212f8179c3964326aa8e1232ba6ab",
    ),
    (
        "vit.encoder.layer.5.intermediate.dense.weight",
        "3e5d427b2907004cf572301592a1bc1d12454b2fd213bbba575780c557389f41",
    ),
    (
        "vit.encoder.layer.5.layernorm_after.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.5.layernorm_after.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.5.layernorm_before.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.5.layernorm_before.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
    (
        "vit.encoder.layer.5.output.dense.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.encoder.layer.5.output.dense.weight",
        "85364e53edbd6522c814d0dcbab7cf4c58a131d58d7651431fda760ae6f386f1",
    ),
    (
        "vit.layernorm.bias",
        "4c2cc69d140facf2891ad2e1888cf3c7b62bd0476147acca0c68712d74cb691b",
    ),
    (
        "vit.layernorm.weight",
        "b2b2b969d0cf8df6e641286cf92ed746669f48aec0d3984ff968b833fe8abb88",
    ),
];

#[test]
fn checkpoint_bytes_of_seed_0_are_unchanged() {
    let mut got = Vec::new();
    for &(arch, shape, _) in CHECKPOINTS {
        let m = model(arch.parse().unwrap(), shape);
        got.push((arch, shape, checkpoint_sha(&m)));
    }
    let want: Vec<_> = CHECKPOINTS.iter().map(|&(a, s, d)| (a, s, d)).collect();
    let got_ref: Vec<_> = got.iter().map(|(a, s, d)| (*a, *s, d.as_str())).collect();
    if got_ref != want {
        let table: String = got
            .iter()
            .map(|(a, s, d)| format!("    (\"{a}\", {s:?}, \"{d}\"),\n"))
            .collect();
        panic!("checkpoint digests drifted; computed:\n{table}");
    }
}

#[test]
fn vit_tiny_initial_tensors_of_seed_0_are_unchanged() {
    let m = model(Arch::VitTiny, [3, 32, 32]);
    let got: BTreeMap<String, String> = m
        .store()
        .all()
        .into_iter()
        .map(|(name, var, _)| (name, tensor_sha(var.as_tensor())))
        .collect();
    let want: BTreeMap<String, String> = VIT_TINY
        .iter()
        .map(|(n, d)| (n.to_string(), d.to_string()))
        .collect();
    if got != want {
        let drifted: BTreeSet<&String> = got
            .keys()
            .chain(want.keys())
            .filter(|k| got.get(*k) != want.get(*k))
            .collect();
        let table: String = got
            .iter()
            .map(|(n, d)| format!("    (\"{n}\", \"{d}\"),\n"))
            .collect();
        panic!(
            "{} ViT-tiny tensors drifted (first: {:?}); computed:\n{table}",
            drifted.len(),
            drifted.iter().next()
        );
    }
}
