//! The float types a network computes in (`f32`, and `f64` for gradient
//! checks): the few operations the kernels need, each rounded once.

use std::fmt::Debug;
use std::ops::{Add, Div, Mul, Neg, Sub};

use rand::distr::uniform::SampleUniform;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::train::LossSpec;
use crate::{Inputs, Mlp, MlpError, SingleScratch, Workspace};

/// The float types a network computes in: `f32` for training, `f64` for
/// finite-difference gradient checks. Implemented for these two only: its
/// hidden methods name types this crate does not export.
pub trait Scalar:
    Copy
    + Debug
    + Default
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + SampleUniform
    + Serialize
    + DeserializeOwned
{
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// The smallest positive normal value; below it values are subnormal.
    const MIN_POSITIVE: Self;
    /// The nearest value to `v`.
    fn from_f64(v: f64) -> Self;
    /// This value as `f64` (exact).
    fn to_f64(self) -> f64;
    /// The square root, correctly rounded.
    #[must_use]
    fn sqrt(self) -> Self;
    /// The absolute value.
    #[must_use]
    fn abs(self) -> Self;
    /// Neither NaN nor infinite.
    fn is_finite(self) -> bool;
    /// `self · a + b` with one rounding (IEEE-754 fusedMultiplyAdd: the
    /// same bits on every machine; one instruction where the CPU has FMA).
    #[must_use]
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// These values as `f32`, when `Self` is `f32`: lets a kernel take a
    /// path written for `f32` vectors (the same bits as the generic one).
    fn as_f32(values: &[Self]) -> Option<&[f32]> {
        let _ = values;
        None
    }
    /// [`as_f32`](Self::as_f32), mutably.
    fn as_f32_mut(values: &mut [Self]) -> Option<&mut [f32]> {
        let _ = values;
        None
    }

    // The network's passes, entered through the impls below, which are not
    // generic: so for `f32` they, and the kernels they inline (about 5 MB
    // of code at opt-level 3), are compiled once, in this crate. Called
    // generically, every crate and test binary that trains an `Mlp<f32>`
    // compiled its own copy — minutes each. Hidden: a part of no API,
    // named through types this crate does not export.

    #[doc(hidden)]
    fn workspace_run(
        ws: &mut Workspace<Self>,
        net: &Mlp<Self>,
        inputs: Inputs<'_, Self>,
        loss: Option<LossSpec<'_, Self>>,
    ) -> Result<(), MlpError>;

    #[doc(hidden)]
    fn forward_single(net: &Mlp<Self>, input: &[Self], scratch: &mut SingleScratch<Self>);
}

macro_rules! impl_scalar {
    ($t:ty; passes: $(#[$passes:meta])* $(; $extra:item)*) => {
        impl Scalar for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const MIN_POSITIVE: Self = <$t>::MIN_POSITIVE;
            #[allow(clippy::cast_possible_truncation, trivial_numeric_casts)] // rounding to nearest is the point
            fn from_f64(v: f64) -> Self {
                v as $t
            }
            fn to_f64(self) -> f64 {
                f64::from(self)
            }
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
            // Inlined into the FMA-compiled kernels, where it is one
            // instruction; compiled on its own it would call libm's fmaf.
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            $(#[$passes])*
            fn workspace_run(
                ws: &mut Workspace<Self>,
                net: &Mlp<Self>,
                inputs: Inputs<'_, Self>,
                loss: Option<LossSpec<'_, Self>>,
            ) -> Result<(), MlpError> {
                ws.run_here(net, inputs, loss)
            }
            $(#[$passes])*
            fn forward_single(net: &Mlp<Self>, input: &[Self], scratch: &mut SingleScratch<Self>) {
                net.forward_single_here(input, scratch);
            }
            $($extra)*
        }
    };
}

// `f32`'s passes are compiled here, once; `f64`'s (gradient checks in
// tests) only where they are used, as before: `#[inline]` makes them
// generic-like, so a build that never uses them does not compile them (the
// release wheel took 90 s longer when it did).
impl_scalar!(
    f32;
    passes:;
    fn as_f32(values: &[f32]) -> Option<&[f32]> {
        Some(values)
    };
    fn as_f32_mut(values: &mut [f32]) -> Option<&mut [f32]> {
        Some(values)
    }
);
impl_scalar!(f64; passes: #[inline]);
