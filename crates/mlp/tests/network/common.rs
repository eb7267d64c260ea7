//! What the golden tests of this crate share: the golden format's f32
//! tensors, and the files of a golden folder.

// Not every test module uses all of it.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::Deserialize;

/// An f32 tensor of the golden format: bit patterns as hex (`u32`), or
/// the compact form's little-endian bytes in base64 (`f32le_b64`), and its
/// shape.
#[derive(Deserialize)]
pub struct Tensor {
    #[serde(default)]
    pub u32: Option<Vec<String>>,
    #[serde(default)]
    pub f32le_b64: Option<String>,
    pub shape: Vec<usize>,
}

impl Tensor {
    pub fn values(&self) -> Vec<f32> {
        let values: Vec<f32> = match (&self.u32, &self.f32le_b64) {
            (Some(hex), _) => hex.iter().map(|b| f32::from_bits(u32::from_str_radix(b, 16).unwrap())).collect(),
            (None, Some(b64)) => {
                base64(b64).chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
            }
            (None, None) => panic!("a tensor without values"),
        };
        assert_eq!(values.len(), self.shape.iter().product::<usize>(), "values for shape {:?}", self.shape);
        values
    }

    /// A tensor of `shape` with every value `v`.
    pub fn filled(shape: Vec<usize>, v: f32) -> Self {
        let n = shape.iter().product();
        Self { u32: Some(vec![format!("{:08x}", v.to_bits()); n]), f32le_b64: None, shape }
    }

    pub fn matrix(&self) -> Array2<f32> {
        Array2::from_shape_vec((self.shape[0], self.shape[1]), self.values()).unwrap()
    }
}

/// Every `*.json` file in the test folder `name`, sorted.
pub fn json_files(name: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join(name);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden files in {}", dir.display());
    files
}

/// A u8 tensor of the compact form: its bytes in base64 (`u8_b64`).
#[derive(Deserialize)]
pub struct ByteTensor {
    pub u8_b64: String,
    pub shape: Vec<usize>,
}

impl ByteTensor {
    pub fn values(&self) -> Vec<u8> {
        let bytes = base64(&self.u8_b64);
        assert_eq!(bytes.len(), self.shape.iter().product::<usize>(), "bytes for shape {:?}", self.shape);
        bytes
    }
}

/// Standard base64 (padded), as Python's `base64.b64encode` writes it.
pub fn base64(text: &str) -> Vec<u8> {
    let digit = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let text = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    for group in text.chunks(4) {
        let bits = group.iter().enumerate().fold(0u32, |acc, (i, &c)| acc | digit(c) << (18 - 6 * i));
        out.extend_from_slice(&bits.to_be_bytes()[1..group.len()]);
    }
    out
}
