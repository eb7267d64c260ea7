//! What the golden tests of this crate share: the golden format's f32
//! tensors, and the files of a golden folder.

// Each test crate uses what it needs of this module.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use ndarray::Array2;
use serde::Deserialize;

/// An f32 tensor of the golden format: bit patterns as hex, and its shape.
#[derive(Deserialize)]
pub struct Tensor {
    pub u32: Vec<String>,
    pub shape: Vec<usize>,
}

impl Tensor {
    pub fn values(&self) -> Vec<f32> {
        self.u32.iter().map(|b| f32::from_bits(u32::from_str_radix(b, 16).unwrap())).collect()
    }

    /// A tensor of `shape` with every value `v`.
    pub fn filled(shape: Vec<usize>, v: f32) -> Self {
        let n = shape.iter().product();
        Self { u32: vec![format!("{:08x}", v.to_bits()); n], shape }
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
