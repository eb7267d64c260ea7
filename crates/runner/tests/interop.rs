//! Policies in other tools' formats: safetensors written and read back
//! exactly, PyTorch-named files read by their names, and every damaged file
//! a named error.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use agent::{Architecture, DuelingStreams, Mlp, NoisyInit, NoisyLayers};
use rand::SeedableRng;
use runner::{PolicyError, parse_safetensors_policy, policy_safetensors};

fn net(architecture: &Architecture) -> Mlp<f32> {
    Mlp::build(architecture, &mut rand_chacha::ChaCha8Rng::seed_from_u64(7)).unwrap()
}

/// Rainbow's network in small: a trunk, dueling streams for 3 actions × 5
/// atoms, noisy heads.
fn rainbow_like() -> Architecture {
    Architecture {
        inputs: 6,
        hidden: vec![16],
        outputs: 15,
        dueling: Some(DuelingStreams { value_hidden: vec![8], advantage_hidden: vec![8], value_outputs: 5 }),
        noisy: Some(NoisyInit { layers: NoisyLayers::Heads, sigma0: 0.5 }),
    }
}

/// Tensors by name: shape and values.
type Named = Vec<(&'static str, Vec<usize>, Vec<f32>)>;

/// A safetensors file of the given tensors (F32 unless said otherwise).
fn file(tensors: &Named, f64_name: Option<&str>) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>, safetensors::Dtype)> = tensors
        .iter()
        .map(|(name, shape, data)| {
            if f64_name == Some(name) {
                let b = data.iter().flat_map(|&v| f64::from(v).to_le_bytes()).collect();
                (name.to_string(), shape.clone(), b, safetensors::Dtype::F64)
            } else {
                let b = data.iter().flat_map(|v| v.to_le_bytes()).collect();
                (name.to_string(), shape.clone(), b, safetensors::Dtype::F32)
            }
        })
        .collect();
    let views = bytes.iter().map(|(name, shape, b, dtype)| {
        (name.as_str(), safetensors::tensor::TensorView::new(*dtype, shape.clone(), b).unwrap())
    });
    safetensors::serialize(views, None).unwrap()
}

/// The tensors of the seed's chain 4→3→2 (what PyTorch's `state_dict` of
/// `fc1`, `fc2` holds), with distinct values.
fn chain_tensors() -> Named {
    let values = |n: usize, at: f32| (0..n).map(|i| at + i as f32 * 0.125).collect::<Vec<f32>>();
    vec![
        ("fc1.weight", vec![3, 4], values(12, -0.5)),
        ("fc1.bias", vec![3], values(3, 0.25)),
        ("fc2.weight", vec![2, 3], values(6, 1.0)),
        ("fc2.bias", vec![2], values(2, -1.0)),
    ]
}

#[test]
fn safetensors_round_trip_is_exact_and_deterministic() {
    for architecture in [Architecture::sequential(&[4, 32, 32, 2]), rainbow_like()] {
        let original = net(&architecture);
        let bytes = policy_safetensors(&original);
        assert_eq!(bytes, policy_safetensors(&original), "the same network gives the same bytes");
        let back = parse_safetensors_policy(&bytes).unwrap();
        assert_eq!(back, original, "every tensor back to the same bits, noisy σ included");
        // The header names every tensor by its PyTorch name, as F32.
        let read = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut names: Vec<String> = read.names().into_iter().map(str::to_string).collect();
        names.sort();
        let mut expected: Vec<String> = original.params().tensor_names().collect();
        expected.sort();
        assert_eq!(names, expected);
        assert!(read.iter().all(|(_, t)| t.dtype() == safetensors::Dtype::F32));
    }
}

#[test]
fn a_pytorch_state_dict_reads_by_its_names() {
    let net = parse_safetensors_policy(&file(&chain_tensors(), None)).unwrap();
    assert_eq!(net.sizes(), vec![4, 3, 2]);
    // fc1.weight is [out, in]: row 1 of it weighs input 0 by -0.5 + 4·0.125.
    let weight = &net.params().layers()[0].weight;
    assert_eq!((weight[[1, 0]], weight[[0, 3]]), (0.0, -0.125));
    assert_eq!(net.params().layers()[1].bias.to_vec(), vec![-1.0, -0.875]);
}

#[test]
fn damaged_safetensors_are_named_errors() {
    type Expected = fn(&PolicyError) -> bool;
    let with = |edit: &dyn Fn(&mut Named)| {
        let mut tensors = chain_tensors();
        edit(&mut tensors);
        file(&tensors, None)
    };
    let good = file(&chain_tensors(), None);
    let cases: Vec<(Vec<u8>, &str, Expected)> = vec![
        (good[..good.len() - 3].to_vec(), "not a readable safetensors file", |e| {
            matches!(e, PolicyError::Safetensors(_))
        }),
        (
            b"\x02\0\0\0\0\0\0\0{}".to_vec(),
            "tensor fc1.weight is missing",
            |e| matches!(e, PolicyError::MissingTensor { name } if name == "fc1.weight"),
        ),
        (
            file(&chain_tensors(), Some("fc2.bias")),
            "tensor fc2.bias is F64",
            |e| matches!(e, PolicyError::Dtype { name, .. } if name == "fc2.bias"),
        ),
        (
            with(&|t| t[0].0 = "conv1.weight"),
            "tensor conv1.weight is no layer",
            |e| matches!(e, PolicyError::UnknownName { name } if name == "conv1.weight"),
        ),
        (with(&|t| t[0].0 = "fc+1.weight"), "tensor fc+1.weight is no layer", |e| {
            matches!(e, PolicyError::UnknownName { .. })
        }),
        (with(&|t| t.push(("trunk.0.weight", vec![1, 1], vec![0.0]))), "trunk.0.weight is no layer", |e| {
            matches!(e, PolicyError::UnknownName { .. })
        }),
        (with(&|t| t[0].1 = vec![12]), "tensor fc1.weight has shape [12], expected a weight", |e| {
            matches!(e, PolicyError::WeightRank { .. })
        }),
        (with(&|t| t[3].0 = "fc2.gamma"), "tensor fc2.bias is missing", |e| {
            matches!(e, PolicyError::MissingTensor { .. })
        }),
        (with(&|t| t.push(("fc2.gamma", vec![1], vec![0.0]))), "tensor fc2.gamma is not part", |e| {
            matches!(e, PolicyError::UnexpectedTensor { .. })
        }),
        // fc1 and fc3 without fc2: the layer in between is missing.
        (
            with(&|t| t.iter_mut().skip(2).for_each(|t| t.0 = if t.1.len() == 2 { "fc3.weight" } else { "fc3.bias" })),
            "tensor fc2.weight is missing",
            |e| matches!(e, PolicyError::MissingTensor { name } if name == "fc2.weight"),
        ),
        // Widths that do not connect: fc2 reads 5 inputs from fc1's 3.
        (
            with(&|t| {
                t[2].1 = vec![2, 5];
                t[2].2 = vec![0.0; 10];
            }),
            "do not make a network",
            |e| matches!(e, PolicyError::Layers(_)),
        ),
        (with(&|t| t[1].2[2] = f32::NAN), "refused its tensors", |e| matches!(e, PolicyError::Network(_))),
    ];
    for (bytes, expected, kind) in cases {
        let err = parse_safetensors_policy(&bytes).unwrap_err();
        let chain = runner::ErrorChain(&err).to_string();
        assert!(chain.contains(expected), "expected {expected:?}, got {chain}");
        assert!(kind(&err), "{chain}");
    }
}

#[test]
fn load_policy_tells_the_formats_apart() {
    let dir = std::env::temp_dir().join(format!("dqn-interop-load-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let original = net(&rainbow_like());
    let (json, st) = (dir.join("policy.json"), dir.join("policy.safetensors"));
    runner::save_policy(&original, &json).unwrap();
    runner::save_policy_safetensors(&original, &st).unwrap();
    assert_eq!(runner::load_policy(&json).unwrap(), original);
    assert_eq!(runner::load_policy(&st).unwrap(), original);
    // A damaged file of either kind is named with its path.
    std::fs::write(&st, &std::fs::read(&st).unwrap()[..100]).unwrap();
    let err = runner::ErrorChain(&runner::load_policy(&st).unwrap_err()).to_string();
    assert!(err.contains("policy.safetensors") && err.contains("safetensors"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
