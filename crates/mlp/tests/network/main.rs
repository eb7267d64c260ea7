//! The network crate's integration tests, one module per concern, in one
//! test binary: the network is generic over its scalar, so each test
//! binary compiles the kernels again at opt-level 3, and as separate
//! binaries they took about four minutes each, most of a cold `.ci/run`.

mod behaviour;
mod clip_norm;
mod common;
mod conv_layer;
mod conv_net;
mod golden;
mod golden_heads;
mod gradients;
mod rmsprop;
