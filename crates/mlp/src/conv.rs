//! One 2-D convolution layer, forward and backward, for one sample:
//! PyTorch's `nn.Conv2d` with square kernels, a stride and zero padding on
//! every side, its tensors in PyTorch's layout (weight `[out, in, k, k]`,
//! input and output channel-major `[C][H][W]`).
//!
//! The input is unfolded into patches (`im2col`: row `r = (c, ki, kj)` of
//! `in_channels·k·k` rows, one column per output pixel), so the forward pass
//! is the product `weight · patches` and the backward pass two products and
//! a fold back (`col2im`). Every sum runs in one fixed order (patch rows
//! for the output, output pixels for the weight gradient, output channels
//! for the input gradient), so the results do not depend on how a batch is
//! split across threads. This is the layer's arithmetic; networks of these
//! layers come on top of it.

use crate::{MlpError, Scalar};

/// The geometry of a convolution layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Conv2dShape {
    /// Input channels.
    pub in_channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
    /// Output channels (filters).
    pub out_channels: usize,
    /// The kernel's side.
    pub kernel: usize,
    /// The step between patches.
    pub stride: usize,
    /// Zeros added on every side.
    pub padding: usize,
}

/// The largest value any size of a convolution may take: beyond it the
/// products of sizes could overflow before anything is allocated.
const MAX_SIDE: usize = 1 << 16;

impl Conv2dShape {
    /// Checks the geometry: every size positive and at most 2¹⁶, the kernel
    /// no larger than the padded input.
    ///
    /// # Errors
    /// [`MlpError::InvalidHyperparameter`] naming the size.
    pub fn new(
        in_channels: usize,
        (height, width): (usize, usize),
        out_channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> Result<Self, MlpError> {
        let bad = |name, value: usize, requirement| {
            Err(MlpError::InvalidHyperparameter { name, value: value as f64, requirement })
        };
        for (name, value) in [
            ("in_channels", in_channels),
            ("height", height),
            ("width", width),
            ("out_channels", out_channels),
            ("kernel", kernel),
            ("stride", stride),
        ] {
            if value == 0 || value > MAX_SIDE {
                return bad(name, value, "from 1 to 65536");
            }
        }
        if padding > MAX_SIDE {
            return bad("padding", padding, "at most 65536");
        }
        if kernel > height + 2 * padding || kernel > width + 2 * padding {
            return bad("kernel", kernel, "no larger than the padded input");
        }
        Ok(Self { in_channels, height, width, out_channels, kernel, stride, padding })
    }

    /// This geometry if [`new`](Self::new) would make it (a geometry read
    /// from a file is checked so before any size is computed from it).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn checked(self) -> Result<Self, MlpError> {
        Self::new(
            self.in_channels,
            (self.height, self.width),
            self.out_channels,
            self.kernel,
            self.stride,
            self.padding,
        )
    }

    /// Output height: `(H + 2p − k) / s + 1`, rounded down (PyTorch's).
    #[must_use]
    pub fn out_height(&self) -> usize {
        (self.height + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Output width.
    #[must_use]
    pub fn out_width(&self) -> usize {
        (self.width + 2 * self.padding - self.kernel) / self.stride + 1
    }

    /// Values in one input.
    #[must_use]
    pub fn in_len(&self) -> usize {
        self.in_channels * self.height * self.width
    }

    /// Values in one output.
    #[must_use]
    pub fn out_len(&self) -> usize {
        self.out_channels * self.out_pixels()
    }

    /// Output pixels per channel.
    #[must_use]
    pub fn out_pixels(&self) -> usize {
        self.out_height() * self.out_width()
    }

    /// Rows of a patch: `in_channels · k · k` (the weight's row length).
    #[must_use]
    pub fn patch_len(&self) -> usize {
        self.in_channels * self.kernel * self.kernel
    }

    /// Values of the weight, `[out, in, k, k]`.
    #[must_use]
    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    /// For patch row `r` and output pixel `(oy, ox)`, the input index, or
    /// `None` where the patch lies on the padding.
    fn source(&self, r: usize, oy: usize, ox: usize) -> Option<usize> {
        let k = self.kernel;
        let (c, ki, kj) = (r / (k * k), (r / k) % k, r % k);
        let y = (oy * self.stride + ki).checked_sub(self.padding)?;
        let x = (ox * self.stride + kj).checked_sub(self.padding)?;
        (y < self.height && x < self.width).then(|| (c * self.height + y) * self.width + x)
    }

    fn check(&self, what: &'static str, got: usize, expected: usize) -> Result<(), MlpError> {
        if got != expected {
            return Err(MlpError::InvalidHyperparameter {
                name: what,
                value: got as f64,
                requirement: "the length the layer's geometry gives",
            });
        }
        Ok(())
    }
}

/// Unfolds `input` (`[C][H][W]`) into `patches`, `patch_len` rows of
/// `out_pixels` columns, row-major; the padding reads as zeros.
///
/// # Errors
/// [`MlpError::InvalidHyperparameter`] for buffers of the wrong length.
pub fn im2col<T: Scalar>(shape: &Conv2dShape, input: &[T], patches: &mut [T]) -> Result<(), MlpError> {
    shape.check("input", input.len(), shape.in_len())?;
    shape.check("patches", patches.len(), shape.patch_len() * shape.out_pixels())?;
    let (ow, pixels) = (shape.out_width(), shape.out_pixels());
    for (r, row) in patches.chunks_exact_mut(pixels).enumerate() {
        for (pixel, value) in row.iter_mut().enumerate() {
            *value = shape.source(r, pixel / ow, pixel % ow).map_or(T::ZERO, |i| input[i]);
        }
    }
    Ok(())
}

/// The layer's output (`[out][OH][OW]`, before any ReLU) for `patches` (from
/// [`im2col`]): `bias[o] + Σ_r weight[o][r] · patches[r][pixel]`, summed
/// over `r` in order.
///
/// # Errors
/// [`MlpError::InvalidHyperparameter`] for buffers of the wrong length.
pub fn conv2d_forward<T: Scalar>(
    shape: &Conv2dShape,
    weight: &[T],
    bias: &[T],
    patches: &[T],
    out: &mut [T],
) -> Result<(), MlpError> {
    shape.check("weight", weight.len(), shape.weight_len())?;
    shape.check("bias", bias.len(), shape.out_channels)?;
    shape.check("patches", patches.len(), shape.patch_len() * shape.out_pixels())?;
    shape.check("output", out.len(), shape.out_len())?;
    let (pixels, patch) = (shape.out_pixels(), shape.patch_len());
    for (o, row) in out.chunks_exact_mut(pixels).enumerate() {
        row.fill(bias[o]);
        for (r, &w) in weight[o * patch..(o + 1) * patch].iter().enumerate() {
            for (y, &p) in row.iter_mut().zip(&patches[r * pixels..(r + 1) * pixels]) {
                *y = *y + w * p;
            }
        }
    }
    Ok(())
}

/// The layer's backward pass for one sample: adds `∂L/∂weight` (`Σ_pixel
/// grad_out[o][pixel] · patches[r][pixel]`, over pixels in order) and
/// `∂L/∂bias` into `grad_weight` and `grad_bias`, and, when asked, writes
/// `∂L/∂input` (`Σ_o weight[o][r] · grad_out[o][pixel]` folded back onto
/// the input, over `o` in order, then over patch rows and pixels in order).
///
/// # Errors
/// [`MlpError::InvalidHyperparameter`] for buffers of the wrong length.
pub fn conv2d_backward<T: Scalar>(
    shape: &Conv2dShape,
    weight: &[T],
    patches: &[T],
    grad_out: &[T],
    grad_weight: &mut [T],
    grad_bias: &mut [T],
    grad_input: Option<&mut [T]>,
) -> Result<(), MlpError> {
    shape.check("weight", weight.len(), shape.weight_len())?;
    shape.check("patches", patches.len(), shape.patch_len() * shape.out_pixels())?;
    shape.check("output gradient", grad_out.len(), shape.out_len())?;
    shape.check("weight gradient", grad_weight.len(), shape.weight_len())?;
    shape.check("bias gradient", grad_bias.len(), shape.out_channels)?;
    let (pixels, patch, ow) = (shape.out_pixels(), shape.patch_len(), shape.out_width());
    for (o, g) in grad_out.chunks_exact(pixels).enumerate() {
        grad_bias[o] = grad_bias[o] + g.iter().fold(T::ZERO, |s, &v| s + v);
        for (r, gw) in grad_weight[o * patch..(o + 1) * patch].iter_mut().enumerate() {
            let row = &patches[r * pixels..(r + 1) * pixels];
            *gw = *gw + g.iter().zip(row).fold(T::ZERO, |s, (&a, &b)| s + a * b);
        }
    }
    if let Some(grad_input) = grad_input {
        shape.check("input gradient", grad_input.len(), shape.in_len())?;
        grad_input.fill(T::ZERO);
        for r in 0..patch {
            for pixel in 0..pixels {
                let Some(i) = shape.source(r, pixel / ow, pixel % ow) else { continue };
                let d = (0..shape.out_channels)
                    .fold(T::ZERO, |s, o| s + weight[o * patch + r] * grad_out[o * pixels + pixel]);
                grad_input[i] = grad_input[i] + d;
            }
        }
    }
    Ok(())
}

/// Unfolds `rows` inputs (`[rows][C][H][W]`, each `in_len` long) into
/// pixel-major patches: row
/// `s·P + p` of `cols` holds sample `s`'s patch for output pixel `p`,
/// `patch_len` values in `(c, ki, kj)` order, zero on the padding. The
/// layer is then a matrix product over `rows·P` rows, like a linear layer.
/// Every value is written (the buffer is not cleared first: for the Nature
/// network's first layer that would be 13 MB of zeros per pass).
#[inline(always)]
pub(crate) fn unfold<T: Scalar>(shape: &Conv2dShape, input: &[T], rows: usize, cols: &mut Vec<T>) {
    let per_sample = shape.out_pixels() * shape.patch_len();
    cols.resize(rows * per_sample, T::ZERO);
    for (sample, out) in input.chunks_exact(shape.in_len()).take(rows).zip(cols.chunks_exact_mut(per_sample)) {
        unfold_sample(shape, sample, out);
    }
}

/// [`unfold`] for a batch of bytes read through `table`: each sample is
/// converted once into `sample` (one input's values, reused), then
/// unfolded from there, since a patch matrix holds each input value up to
/// k²/stride² times (four times for the Nature network's first layer).
#[inline(always)]
pub(crate) fn unfold_bytes<T: Scalar>(
    shape: &Conv2dShape,
    input: &[u8],
    rows: usize,
    table: &[T; 256],
    sample: &mut Vec<T>,
    cols: &mut Vec<T>,
) {
    let per_sample = shape.out_pixels() * shape.patch_len();
    cols.resize(rows * per_sample, T::ZERO);
    for (bytes, out) in input.chunks_exact(shape.in_len()).take(rows).zip(cols.chunks_exact_mut(per_sample)) {
        sample.clear();
        sample.extend(bytes.iter().map(|&b| table[usize::from(b)]));
        unfold_sample(shape, sample, out);
    }
}

/// One sample's patches (`out_pixels × patch_len`, pixel-major) into `out`.
#[inline(always)]
fn unfold_sample<T: Scalar>(shape: &Conv2dShape, sample: &[T], out: &mut [T]) {
    // The common kernel sides as constants: each patch row is then a copy
    // of a known width, a few vector moves rather than a call to `memcpy`
    // (which cost as much as the product for the Nature network's first
    // layer).
    match shape.kernel {
        3 => unfold_sample_with::<T, 3>(shape, sample, out),
        4 => unfold_sample_with::<T, 4>(shape, sample, out),
        5 => unfold_sample_with::<T, 5>(shape, sample, out),
        8 => unfold_sample_with::<T, 8>(shape, sample, out),
        _ => unfold_sample_with::<T, 0>(shape, sample, out),
    }
}

/// [`unfold_sample`] for a kernel side of `K` (`K = 0`: the shape's side,
/// whatever it is). Pixels run in order, so no index is divided: a patch
/// that lies wholly on the image (every patch of a layer without padding)
/// is `in_channels · k` straight runs from one base offset; only the
/// patches that reach into the padding test each row and column.
#[inline(always)]
fn unfold_sample_with<T: Scalar, const K: usize>(shape: &Conv2dShape, sample: &[T], out: &mut [T]) {
    let Conv2dShape { height, width, stride, padding, .. } = *shape;
    let k = if K > 0 { K } else { shape.kernel };
    let (oh, ow, patch, plane) = (shape.out_height(), shape.out_width(), shape.patch_len(), height * width);
    let mut patches = out.chunks_exact_mut(patch);
    for oy in 0..oh {
        let y0 = oy * stride;
        let rows_inside = y0 >= padding && y0 + k <= padding + height;
        for ox in 0..ow {
            let x0 = ox * stride;
            let Some(row) = patches.next() else { return };
            if rows_inside && x0 >= padding && x0 + k <= padding + width {
                let base = (y0 - padding) * width + (x0 - padding);
                for (c, channel) in row.chunks_exact_mut(k * k).enumerate() {
                    for (ki, dst) in channel.chunks_exact_mut(k).enumerate() {
                        let from = c * plane + base + ki * width;
                        copy_run::<T, K>(dst, &sample[from..from + k]);
                    }
                }
                continue;
            }
            for (ck, dst) in row.chunks_exact_mut(k).enumerate() {
                let (c, ki) = (ck / k, ck % k);
                let Some(y) = (y0 + ki).checked_sub(padding).filter(|&y| y < height) else {
                    dst.fill(T::ZERO);
                    continue;
                };
                let line = &sample[c * plane + y * width..c * plane + (y + 1) * width];
                for (kj, d) in dst.iter_mut().enumerate() {
                    *d = match (x0 + kj).checked_sub(padding).filter(|&x| x < width) {
                        Some(x) => line[x],
                        None => T::ZERO,
                    };
                }
            }
        }
    }
}

/// `dst = src` for one patch row of `K` values (`K = 0`: any length).
#[inline(always)]
fn copy_run<T: Scalar, const K: usize>(dst: &mut [T], src: &[T]) {
    if K > 0
        && let (Some(d), Some(s)) = (dst.first_chunk_mut::<K>(), src.first_chunk::<K>())
    {
        *d = *s;
    } else {
        dst.copy_from_slice(src);
    }
}

/// The adjoint of [`unfold`]: `out` (`[rows][C][H][W]`) becomes, at each
/// input position, the sum of the patch values read from it, added in
/// pixel order, then patch order (a fixed order: the same bits however a
/// batch is split).
#[inline(always)]
pub(crate) fn fold<T: Scalar>(shape: &Conv2dShape, cols: &[T], rows: usize, out: &mut Vec<T>) {
    let per_sample = shape.out_pixels() * shape.patch_len();
    out.clear();
    out.resize(rows * shape.in_len(), T::ZERO);
    for (sample, src) in out.chunks_exact_mut(shape.in_len()).zip(cols.chunks_exact(per_sample)) {
        // The kernel side as a constant, as in `unfold_sample`.
        match shape.kernel {
            3 => fold_sample_with::<T, 3>(shape, src, sample),
            4 => fold_sample_with::<T, 4>(shape, src, sample),
            5 => fold_sample_with::<T, 5>(shape, src, sample),
            8 => fold_sample_with::<T, 8>(shape, src, sample),
            _ => fold_sample_with::<T, 0>(shape, src, sample),
        }
    }
}

/// [`fold`] of one sample's patches (`src`, pixel-major) onto `sample`, for
/// a kernel side of `K` (`K = 0`: the shape's side). Pixels run in order and
/// a patch wholly on the image is `in_channels · k` straight runs from one
/// base offset, as in [`unfold_sample_with`]; the order of the adds is the
/// same either way (pixel, then channel, kernel row, kernel column).
#[inline(always)]
fn fold_sample_with<T: Scalar, const K: usize>(shape: &Conv2dShape, src: &[T], sample: &mut [T]) {
    let Conv2dShape { height, width, stride, padding, .. } = *shape;
    let k = if K > 0 { K } else { shape.kernel };
    let (oh, ow, patch, plane) = (shape.out_height(), shape.out_width(), shape.patch_len(), height * width);
    let mut patches = src.chunks_exact(patch);
    for oy in 0..oh {
        let y0 = oy * stride;
        let rows_inside = y0 >= padding && y0 + k <= padding + height;
        for ox in 0..ow {
            let x0 = ox * stride;
            let Some(row) = patches.next() else { return };
            if rows_inside && x0 >= padding && x0 + k <= padding + width {
                let base = (y0 - padding) * width + (x0 - padding);
                for (c, channel) in row.chunks_exact(k * k).enumerate() {
                    for (ki, values) in channel.chunks_exact(k).enumerate() {
                        let from = c * plane + base + ki * width;
                        add_run::<T, K>(&mut sample[from..from + k], values);
                    }
                }
                continue;
            }
            for (ck, values) in row.chunks_exact(k).enumerate() {
                let (c, ki) = (ck / k, ck % k);
                let Some(y) = (y0 + ki).checked_sub(padding).filter(|&y| y < height) else { continue };
                let line = &mut sample[c * plane + y * width..c * plane + (y + 1) * width];
                for (kj, &v) in values.iter().enumerate() {
                    if let Some(x) = (x0 + kj).checked_sub(padding).filter(|&x| x < width) {
                        line[x] = line[x] + v;
                    }
                }
            }
        }
    }
}

/// `dst += src` for one patch row of `K` values (`K = 0`: any length).
#[inline(always)]
fn add_run<T: Scalar, const K: usize>(dst: &mut [T], src: &[T]) {
    if K > 0
        && let (Some(d), Some(s)) = (dst.first_chunk_mut::<K>(), src.first_chunk::<K>())
    {
        for j in 0..K {
            d[j] = d[j] + s[j];
        }
    } else {
        for (d, &v) in dst.iter_mut().zip(src) {
            *d = *d + v;
        }
    }
}
