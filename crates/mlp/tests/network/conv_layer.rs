//! One convolution layer (`im2col`, `conv2d_forward`, `conv2d_backward`):
//! equal to PyTorch's `nn.Conv2d` on every case in `tests/golden_conv_layer/`
//! (written by `tests/generate_conv_layer_golden.py`: MinAtar's 'valid' and
//! 'same' layers on binary planes, the Nature network's 8×8 stride-4 layer,
//! and a non-square input with a strided, padded kernel whose stride leaves
//! a remainder), and its gradients equal to central finite differences in
//! f64.

// A panic in a test is a failed test: unwrapping is the point here.
#![allow(clippy::unwrap_used)]

use mlp::{Conv2dShape, conv2d_backward, conv2d_forward, im2col};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

use crate::common::{Tensor, json_files};

#[derive(Deserialize)]
struct Case {
    name: String,
    in_channels: usize,
    height: usize,
    width: usize,
    out_channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    weight: Tensor,
    bias: Tensor,
    input: Tensor,
    output: Tensor,
    upstream: Tensor,
    grad_weight: Tensor,
    grad_bias: Tensor,
    grad_input: Tensor,
}

/// |a − b| ≤ rtol·|b| + 1e-6: the golden format's tolerances (rtol 1e-5 for
/// forward values, 1e-4 for gradients, whose sums over pixels cancel).
fn close(what: &str, rtol: f32, ours: &[f32], theirs: &[f32]) {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    for (i, (&a, &b)) in ours.iter().zip(theirs).enumerate() {
        assert!((a - b).abs() <= rtol * b.abs() + 1e-6, "{what}[{i}]: {a} vs torch {b}");
    }
}

/// Forward and backward of one sample: (output, weight, bias and input
/// gradients).
#[allow(clippy::type_complexity)]
fn run<T: mlp::Scalar>(
    shape: &Conv2dShape,
    weight: &[T],
    bias: &[T],
    input: &[T],
    upstream: &[T],
) -> (Vec<T>, Vec<T>, Vec<T>, Vec<T>) {
    let mut patches = vec![T::ZERO; shape.patch_len() * shape.out_pixels()];
    im2col(shape, input, &mut patches).unwrap();
    let mut out = vec![T::ZERO; shape.out_len()];
    conv2d_forward(shape, weight, bias, &patches, &mut out).unwrap();
    let (mut gw, mut gb, mut gi) = (vec![T::ZERO; weight.len()], vec![T::ZERO; bias.len()], vec![T::ZERO; input.len()]);
    conv2d_backward(shape, weight, &patches, upstream, &mut gw, &mut gb, Some(&mut gi)).unwrap();
    (out, gw, gb, gi)
}

#[test]
fn equals_pytorchs_conv2d_on_every_golden_case() {
    for file in json_files("golden_conv_layer") {
        let c: Case = serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        let shape = Conv2dShape::new(c.in_channels, (c.height, c.width), c.out_channels, c.kernel, c.stride, c.padding)
            .unwrap();
        assert_eq!(c.output.shape, [c.out_channels, shape.out_height(), shape.out_width()], "{}", c.name);
        let (out, gw, gb, gi) =
            run(&shape, &c.weight.values(), &c.bias.values(), &c.input.values(), &c.upstream.values());
        close(&format!("{} output", c.name), 1e-5, &out, &c.output.values());
        close(&format!("{} weight gradient", c.name), 1e-4, &gw, &c.grad_weight.values());
        close(&format!("{} bias gradient", c.name), 1e-4, &gb, &c.grad_bias.values());
        close(&format!("{} input gradient", c.name), 1e-4, &gi, &c.grad_input.values());
    }
}

/// L = Σ out · R; every gradient against (L(θ + h) − L(θ − h)) / 2h in f64.
#[test]
fn gradients_equal_central_finite_differences() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for (c, hw, o, k, s, p) in [(2, (6, 5), 3, 3, 1, 0), (3, (7, 9), 2, 3, 2, 1), (1, (5, 5), 4, 2, 3, 2)] {
        let shape = Conv2dShape::new(c, hw, o, k, s, p).unwrap();
        let mut draw = |n: usize| (0..n).map(|_| rng.random_range(-1.0..1.0)).collect::<Vec<f64>>();
        let (weight, bias, input) = (draw(shape.weight_len()), draw(o), draw(shape.in_len()));
        let upstream = draw(shape.out_len());
        let loss = |w: &[f64], b: &[f64], x: &[f64]| -> f64 {
            let (out, ..) = run(&shape, w, b, x, &upstream);
            out.iter().zip(&upstream).map(|(a, r)| a * r).sum()
        };
        let (_, gw, gb, gi) = run(&shape, &weight, &bias, &input, &upstream);
        let h = 1e-6;
        let check = |name: &str, analytic: &[f64], which: usize| {
            for i in 0..analytic.len() {
                let (mut w, mut b, mut x) = (weight.clone(), bias.clone(), input.clone());
                let (mut w2, mut b2, mut x2) = (weight.clone(), bias.clone(), input.clone());
                match which {
                    0 => (w[i], w2[i]) = (w[i] + h, w2[i] - h),
                    1 => (b[i], b2[i]) = (b[i] + h, b2[i] - h),
                    _ => (x[i], x2[i]) = (x[i] + h, x2[i] - h),
                }
                let numeric = (loss(&w, &b, &x) - loss(&w2, &b2, &x2)) / (2.0 * h);
                assert!((numeric - analytic[i]).abs() < 1e-6, "{shape:?} {name}[{i}]: {} vs {numeric}", analytic[i]);
            }
        };
        check("weight", &gw, 0);
        check("bias", &gb, 1);
        check("input", &gi, 2);
    }
}

#[test]
fn bad_geometry_and_buffers_are_named_errors() {
    assert!(Conv2dShape::new(0, (5, 5), 1, 3, 1, 0).unwrap_err().to_string().contains("in_channels"));
    assert!(Conv2dShape::new(1, (2, 5), 1, 3, 1, 0).unwrap_err().to_string().contains("kernel"));
    assert!(Conv2dShape::new(1, (5, 5), 1, 3, 0, 0).unwrap_err().to_string().contains("stride"));
    let shape = Conv2dShape::new(1, (4, 4), 2, 3, 1, 0).unwrap();
    let mut patches = vec![0.0f32; shape.patch_len() * shape.out_pixels()];
    assert!(im2col(&shape, &[0.0f32; 15], &mut patches).unwrap_err().to_string().contains("input"));
    let mut out = vec![0.0f32; 3];
    let err = conv2d_forward(&shape, &[0.0; 18], &[0.0; 2], &patches, &mut out).unwrap_err();
    assert!(err.to_string().contains("output"));
}
