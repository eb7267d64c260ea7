//! What the whole-run tests of several environments share: a run folder's
//! result files, to compare two runs byte for byte, and a run inside a
//! rayon pool of a given size.

// A panic in a test is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use runner::files;

/// The result files of a run folder, each with its bytes.
pub fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    [files::TRAIN_CSV, files::TEST_CSV, files::EVAL_CSV, files::POLICY, files::CONFIG]
        .iter()
        .map(|f| (f.to_string(), std::fs::read(dir.join(f)).unwrap()))
        .collect()
}

/// `f` run in a rayon pool of `threads` threads.
pub fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap().install(f)
}
