//! What the golden tests of this crate share: the golden format's f32
//! vectors and tensors, and the files of a golden folder.

// Each test crate uses what it needs of this module.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// An f32 vector or tensor: bit patterns as hex, and the shape of a tensor.
#[derive(Deserialize)]
pub struct F32s {
    pub u32: Vec<String>,
    pub shape: Option<Vec<usize>>,
}

impl F32s {
    pub fn values(&self) -> Vec<f32> {
        self.u32.iter().map(|b| f32::from_bits(u32::from_str_radix(b, 16).unwrap())).collect()
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
