//! The one matrix kernel: `C += A · B`, with a fixed summation order.
//!
//! Every element of `C` adds its `k` products in the order `p = 0, 1, …, k−1`,
//! one rounding per multiply and per add (Rust never fuses them). The kernel
//! vectorizes across the columns of `C` — never across the sum — so its
//! results are the same bits on every machine and at every vector width;
//! blocking only decides which elements are computed together.

use crate::Scalar;

/// How `A` is stored: element `(i, p)` is at `i * row_stride + p * col_stride`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ALayout {
    /// Row-major: `(i, p)` at `i * ld + p`.
    RowMajor { ld: usize },
    /// Column-major (the transpose of a row-major matrix): `(i, p)` at `p * ld + i`.
    ColMajor { ld: usize },
}

/// Rows of a register tile.
const MR: usize = 6;
/// Bytes of a register tile's row: two of the widest vector registers.
const TILE_ROW_BYTES: usize = if cfg!(target_feature = "avx512f") {
    128
} else {
    64
};

/// `C[m×n] += A[m×k] · B[k×n]`; `B` and `C` row-major with leading
/// dimensions `ldb` and `ldc`.
#[allow(clippy::too_many_arguments)] // a BLAS-style signature: sizes, then each matrix with its layout
pub(crate) fn gemm_acc<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_layout: ALayout,
    b: &[T],
    ldb: usize,
    c: &mut [T],
    ldc: usize,
) {
    match TILE_ROW_BYTES / size_of::<T>() {
        32 => blocked::<T, 32>(m, n, k, a, a_layout, b, ldb, c, ldc),
        16 => blocked::<T, 16>(m, n, k, a, a_layout, b, ldb, c, ldc),
        _ => blocked::<T, 8>(m, n, k, a, a_layout, b, ldb, c, ldc),
    }
}

#[allow(clippy::too_many_arguments)]
fn blocked<T: Scalar, const NR: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_layout: ALayout,
    b: &[T],
    ldb: usize,
    c: &mut [T],
    ldc: usize,
) {
    let n_full = n - n % NR;
    let m_full = m - m % MR;
    for j0 in (0..n_full).step_by(NR) {
        for i0 in (0..m_full).step_by(MR) {
            match a_layout {
                ALayout::RowMajor { ld } => {
                    let rows: [&[T]; MR] =
                        std::array::from_fn(|r| &a[(i0 + r) * ld..(i0 + r) * ld + k]);
                    tile::<T, NR>(
                        k,
                        |p| std::array::from_fn(|r| rows[r][p]),
                        b,
                        ldb,
                        j0,
                        c,
                        ldc,
                        i0,
                    );
                }
                ALayout::ColMajor { ld } => {
                    let col = |p: usize| -> [T; MR] {
                        let s = &a[p * ld + i0..p * ld + i0 + MR];
                        std::array::from_fn(|r| s[r])
                    };
                    tile::<T, NR>(k, col, b, ldb, j0, c, ldc, i0);
                }
            }
        }
        edge(m_full..m, j0..j0 + NR, k, a, a_layout, b, ldb, c, ldc);
    }
    edge(0..m, n_full..n, k, a, a_layout, b, ldb, c, ldc);
}

/// One `MR × NR` tile of `C`, held in registers while `p` runs over `k`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn tile<T: Scalar, const NR: usize>(
    k: usize,
    load_a: impl Fn(usize) -> [T; MR],
    b: &[T],
    ldb: usize,
    j0: usize,
    c: &mut [T],
    ldc: usize,
    i0: usize,
) {
    let mut acc = [[T::ZERO; NR]; MR];
    for (r, row) in acc.iter_mut().enumerate() {
        row.copy_from_slice(&c[(i0 + r) * ldc + j0..(i0 + r) * ldc + j0 + NR]);
    }
    for p in 0..k {
        let b_row: &[T; NR] = b[p * ldb + j0..p * ldb + j0 + NR]
            .try_into()
            .expect("slice of length NR");
        let a_col = load_a(p);
        for r in 0..MR {
            for j in 0..NR {
                acc[r][j] = acc[r][j] + a_col[r] * b_row[j];
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[(i0 + r) * ldc + j0..(i0 + r) * ldc + j0 + NR].copy_from_slice(row);
    }
}

/// The elements outside full tiles, a row at a time: for each `p` in order,
/// the row of `C` gets `a[i][p] · B[p][cols]` added (vectorized across the
/// columns), so each element still sums its products in order `p = 0..k`.
#[allow(clippy::too_many_arguments)]
fn edge<T: Scalar>(
    rows: std::ops::Range<usize>,
    cols: std::ops::Range<usize>,
    k: usize,
    a: &[T],
    a_layout: ALayout,
    b: &[T],
    ldb: usize,
    c: &mut [T],
    ldc: usize,
) {
    if cols.is_empty() {
        return;
    }
    for i in rows {
        let c_row = &mut c[i * ldc + cols.start..i * ldc + cols.end];
        for p in 0..k {
            let a_ip = match a_layout {
                ALayout::RowMajor { ld } => a[i * ld + p],
                ALayout::ColMajor { ld } => a[p * ld + i],
            };
            let b_row = &b[p * ldb + cols.start..p * ldb + cols.end];
            for (c_ij, &b_pj) in c_row.iter_mut().zip(b_row) {
                *c_ij = *c_ij + a_ip * b_pj;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel against the obvious triple loop, bit for bit, across sizes
    /// that hit full tiles and every kind of edge.
    #[test]
    fn matches_the_naive_loop_exactly() {
        let mut seed = 1u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        };
        for (m, n, k) in [
            (1, 1, 1),
            (6, 32, 5),
            (13, 70, 9),
            (64, 128, 128),
            (7, 2, 128),
            (128, 4, 33),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let c0: Vec<f32> = (0..m * n).map(|_| next()).collect();
            let mut expected = c0.clone();
            for i in 0..m {
                for j in 0..n {
                    for p in 0..k {
                        expected[i * n + j] += a[i * k + p] * b[p * n + j];
                    }
                }
            }
            let mut c = c0.clone();
            gemm_acc(m, n, k, &a, ALayout::RowMajor { ld: k }, &b, n, &mut c, n);
            assert_eq!(c, expected, "row-major A, {m}x{n}x{k}");
            // The same A stored transposed.
            let a_t: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
            let mut c = c0.clone();
            gemm_acc(m, n, k, &a_t, ALayout::ColMajor { ld: m }, &b, n, &mut c, n);
            assert_eq!(c, expected, "column-major A, {m}x{n}x{k}");
        }
    }
}
