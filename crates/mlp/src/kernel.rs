//! The one matrix kernel: `C += A · B`, with a fixed summation order.
//!
//! Every element of `C` adds its `k` products in the order `p = 0, 1, …, k−1`,
//! one rounding per multiply and per add (Rust never fuses them). The kernel
//! vectorizes across the columns of `C` — never across the sum — so its
//! results are the same bits on every machine and at every vector width;
//! blocking only decides which elements are computed together.
//!
//! The fused variant (`FUSED = true`, [`Arithmetic::Fused`]) rounds each
//! step `c + a·b` once (IEEE fusedMultiplyAdd) in the same order: other
//! bits than the default, but again the same on every machine — FMA is
//! exactly specified — and twice the arithmetic per instruction where the
//! CPU has it ([`vectorized_fused`]).

use crate::Scalar;

/// How `A` is stored: element `(i, p)` is at `i * row_stride + p * col_stride`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ALayout {
    /// Row-major: `(i, p)` at `i * ld + p`.
    RowMajor { ld: usize },
    /// Column-major (the transpose of a row-major matrix): `(i, p)` at `p * ld + i`.
    ColMajor { ld: usize },
}

/// A piece of numeric work to run with [`vectorized`]. Its `run` must be
/// `#[inline(always)]`, and so must everything hot that it calls: that is
/// what puts the loops into the AVX2-compiled function. (A closure would not
/// do: LLVM declines to inline a large closure there.)
pub(crate) trait Job {
    type Output;
    fn run(self) -> Self::Output;
}

/// Runs `job` compiled for AVX2 when the CPU has it (checked once, cached by
/// std), and as plain x86-64 (SSE2) code otherwise.
///
/// The results are the same bits either way: the code never fuses a
/// multiply with an add and never reorders a sum, so only the speed depends
/// on the vector width. The generic code is not compiled for AVX-512:
/// LLVM's code for 16-lane arrays there ran ten to forty times slower than
/// its AVX2 code (masked loads, sums kept in memory). Where the CPU has
/// AVX-512, the `f32` products run in hand-written 512-bit tiles instead
/// (`x86::Tile::run_wide`).
#[inline(always)]
pub(crate) fn vectorized<J: Job>(job: J) -> J::Output {
    dispatch(false, job)
}

/// As [`vectorized`], compiled with FMA as well when the CPU has it: for
/// jobs whose arithmetic is [`Arithmetic::Fused`] (elsewhere `mul_add` is a
/// library call, the same bits, slowly).
#[inline(always)]
pub(crate) fn vectorized_fused<J: Job>(job: J) -> J::Output {
    dispatch(true, job)
}

#[inline(always)]
fn dispatch<J: Job>(fma: bool, job: J) -> J::Output {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            let fma = fma && std::arch::is_x86_feature_detected!("fma");
            #[allow(unsafe_code)]
            // SAFETY: `avx2` only requires the CPU to support AVX2, which
            // was checked just above, and `avx2_fma` AVX2 and FMA, checked
            // too.
            return unsafe { if fma { avx2_fma(job) } else { avx2(job) } };
        }
    }
    let _ = fma;
    job.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn avx2<J: Job>(job: J) -> J::Output {
    job.run()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn avx2_fma<J: Job>(job: J) -> J::Output {
    job.run()
}

/// How the kernels round a multiply-and-accumulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum Arithmetic {
    /// A multiply, then an add, each rounded: the default, the same bits
    /// as a plain loop (and as every earlier result of this crate).
    #[default]
    Separate,
    /// One fused multiply-add per step, rounded once: other bits than
    /// [`Separate`](Self::Separate) (slightly more accurate), the same on
    /// every machine and thread count; fast on CPUs with FMA, slow (a
    /// library call per step) on those without.
    Fused,
}

/// `dst[j][i] = src[i][j]` for a row-major `rows × cols` source (rows
/// `src_ld` apart) into a row-major `cols × rows` destination, in 8 × 8
/// blocks so both sides stay in cache lines.
pub(crate) struct Transpose<'a, T> {
    pub src: &'a [T],
    pub src_ld: usize,
    pub rows: usize,
    pub cols: usize,
    pub dst: &'a mut [T],
}

impl<T: Scalar> Job for Transpose<'_, T> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        const B: usize = 8;
        let Self { src, src_ld, rows, cols, dst } = self;
        let (rows_full, cols_full) = (rows - rows % B, cols - cols % B);
        #[cfg(target_arch = "x86_64")]
        let whole_blocks_done = match (T::as_f32(src), T::as_f32_mut(&mut *dst)) {
            (Some(src), Some(dst)) => x86::transpose_blocks(src, src_ld, (rows_full, cols_full), dst, rows),
            _ => false,
        };
        #[cfg(not(target_arch = "x86_64"))]
        let whole_blocks_done = false;
        // Whole 8 × 8 blocks through registers: 8 row loads, 8 column stores
        // (in shuffles where the CPU has AVX2).
        if !whole_blocks_done {
            for i0 in (0..rows_full).step_by(B) {
                for j0 in (0..cols_full).step_by(B) {
                    let block: [[T; B]; B] = std::array::from_fn(|r| {
                        let at = (i0 + r) * src_ld + j0;
                        src[at..at + B].try_into().expect("slice of length B")
                    });
                    for c in 0..B {
                        let out: &mut [T; B] = (&mut dst[(j0 + c) * rows + i0..(j0 + c) * rows + i0 + B])
                            .try_into()
                            .expect("slice of length B");
                        *out = std::array::from_fn(|r| block[r][c]);
                    }
                }
            }
        }
        // The ragged edges, one value at a time.
        for i in 0..rows {
            let j_from = if i < rows_full { cols_full } else { 0 };
            for j in j_from..cols {
                dst[j * rows + i] = src[i * src_ld + j];
            }
        }
    }
}

/// See [`crate::mul_add_ceiling_probe`]: `(a value to keep, FLOP done)`.
/// In intrinsics where the CPU has AVX2 or AVX-512 (the widest registers
/// the tiles use); otherwise 12 sums of 8 lanes in plain code.
pub(crate) fn ceiling_probe<const FUSED: bool>(iters: usize) -> (f32, u64) {
    #[cfg(target_arch = "x86_64")]
    if let Some(done) = x86::ceiling_probe::<FUSED>(iters) {
        return done;
    }
    let table = std::hint::black_box([[1e-3f32; 8]; 8]);
    let scales = std::hint::black_box([0.5f32, 0.25, 0.125, 1.0, 2.0, 0.75, 1.5, 0.375, 0.625, 0.875, 1.25, 1.75]);
    let mut acc = [[0.0f32; 8]; 12];
    for round in 0..iters {
        let b = &table[round % 8];
        for (sums, &a) in acc.iter_mut().zip(&scales) {
            for (sum, &b) in sums.iter_mut().zip(b) {
                *sum = step::<f32, FUSED>(*sum, a, b);
            }
        }
    }
    (acc.iter().flatten().sum(), (2 * 8 * 12 * iters) as u64)
}

/// Values per piece when element-wise work is split across threads: big
/// enough that a piece outweighs handing it to another thread.
pub(crate) const PIECE: usize = 4096;

/// Calls `f(k, piece_k)` on consecutive pieces of `values` of [`PIECE`]
/// elements, in parallel when the team has threads to spare. For
/// element-wise work, where the split changes no bit.
pub(crate) fn for_each_piece<T: Send>(values: &mut [T], f: impl Fn(usize, &mut [T]) + Sync + Send) {
    if values.len() <= PIECE {
        f(0, values);
        return;
    }
    let mut pieces: Vec<&mut [T]> = values.chunks_mut(PIECE).collect();
    crate::team::for_each_mut(&mut pieces, |k, piece| f(k, piece));
}

/// Runs `run` on every item, each exactly once, and folds the results with
/// `join` (from `init`): with threads to spare, each of the team's threads
/// runs a contiguous share of about equal `size` (work, in elements), then
/// helps with the others'; otherwise in turn. For
/// work whose items are independent and whose `join` is commutative and
/// associative (a flag's `&`, `()`), so neither the grouping nor the order
/// changes a bit.
pub(crate) fn run_balanced<I: Send, R: Send + Sync + Copy>(
    items: Vec<I>,
    size: impl Fn(&I) -> usize,
    run: impl Fn(I) -> R + Sync + Send,
    init: R,
    join: impl Fn(R, R) -> R + Sync + Send,
) -> R {
    let total: usize = items.iter().map(&size).sum();
    if rayon::current_num_threads() < 2 || items.len() < 2 || total <= PIECE {
        return items.into_iter().map(run).fold(init, join);
    }
    let costs: Vec<usize> = items.iter().map(&size).collect();
    let mut slots: Vec<(Option<I>, R)> = items.into_iter().map(|item| (Some(item), init)).collect();
    crate::team::for_each_mut_weighted(
        &mut slots,
        |k| costs[k],
        |_, (item, result)| {
            if let Some(item) = item.take() {
                *result = run(item);
            }
        },
    );
    slots.into_iter().fold(init, |acc, (_, r)| join(acc, r))
}

/// One step of a sum: `c + a·b`, rounded twice or (fused) once.
#[inline(always)]
fn step<T: Scalar, const FUSED: bool>(c: T, a: T, b: T) -> T {
    if FUSED { a.mul_add(b, c) } else { c + a * b }
}

/// Rows of the smaller register tile: rows are taken in tiles of
/// [`MR_WIDE`] and of `MR`, and fewer than `MR` are left over.
const MR: usize = 4;
/// Rows of the larger register tile. With 6 rows of two vectors, 12
/// accumulators: a step of the loop (2 loads of `B`, 6 broadcasts of `A`,
/// 12 multiplies, 12 adds) is 24 vector operations for 8 loads, where 4
/// rows gave 16 for 6 and the loop's own instructions made the front end,
/// not the arithmetic, its limit.
const MR_WIDE: usize = 6;
/// Bytes of a register tile row: two 256-bit vector registers.
const TILE_ROW_BYTES: usize = 64;

/// The row tiles of `m` rows, `(first row, rows)`: tiles of [`MR_WIDE`]
/// rows, then of [`MR`] (as many 6-row tiles as leave a multiple of 4),
/// covering all but the last `m mod 4` rows.
#[inline(always)]
fn row_tiles(m: usize) -> impl Iterator<Item = (usize, usize)> {
    let m_full = m - m % MR;
    let wide = 2 * MR_WIDE * (m_full / (2 * MR_WIDE));
    (0..wide).step_by(MR_WIDE).map(|i0| (i0, MR_WIDE)).chain((wide..m_full).step_by(MR).map(|i0| (i0, MR)))
}

/// [`tile_block`] with `rows` ([`MR_WIDE`] or [`MR`]) rows.
#[inline(always)]
fn row_tile<T: Scalar, const W: usize, const FUSED: bool>(
    rows: usize,
    depth: (usize, usize),
    a: AMatrix<'_, T>,
    b: (&[T], usize, usize),
    c: (&mut [T], usize, Start<'_, T>),
    (i0, j0): (usize, usize),
) {
    if rows == MR_WIDE {
        tile_block::<T, MR_WIDE, W, FUSED>(depth, a, b, c, i0, j0);
    } else {
        tile_block::<T, MR, W, FUSED>(depth, a, b, c, i0, j0);
    }
}

/// Whether `f32` products of `T` run in AVX-512 tiles two panels (32
/// columns) wide on this CPU: 8 × 32 tiles hold 16 sums, twice the columns
/// per instruction of the AVX2 tiles and as many sums in flight.
#[inline(always)]
fn wide_tiles_for<T: Scalar, const FUSED: bool>() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        T::as_f32(&[]).is_some() && x86::has_avx512(FUSED)
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Rows of the wide tiles: tiles of 8, then of 4, covering all but the
/// last `m mod 4` rows (as [`row_tiles`] does).
#[inline(always)]
fn wide_row_tiles(m: usize) -> impl Iterator<Item = (usize, usize)> {
    let m_full = m - m % MR;
    let eights = m_full - m_full % 8;
    (0..eights).step_by(8).map(|i0| (i0, 8)).chain((eights..m_full).step_by(MR).map(|i0| (i0, MR)))
}

/// Columns `j0..j0 + 16·halves` (`halves` 1 or 2) of rows `0..m − m mod 4`
/// of `C` in wide tiles, over `p` in `p0..p0 + kc`: `B`'s first half at
/// `b_start` (rows `ldb` apart), its second `next` further on. Only where
/// [`wide_tiles_for`] says so: the bits are the other tiles' (each sum in
/// the same order, the same rounding).
#[allow(clippy::too_many_arguments)] // the tile's operands, as `tile_block` takes them
#[inline(always)]
fn wide_tiles<T: Scalar, const FUSED: bool>(
    m: usize,
    (p0, kc): (usize, usize),
    a: AMatrix<'_, T>,
    (b, b_start, ldb, next): (&[T], usize, usize, usize),
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
    j0: usize,
    halves: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        let (Some(a_data), Some(b), Some(c)) = (T::as_f32(a.data), T::as_f32(b), T::as_f32_mut(c)) else {
            unreachable!("wide tiles are for f32 only (see wide_tiles_for)")
        };
        let init = match start {
            Start::Accumulate => x86::Init::C,
            Start::Zero => x86::Init::Zero,
            Start::Row(row) => x86::Init::Row(&T::as_f32(row).expect("f32, as C")[j0..]),
        };
        for (i0, rows) in wide_row_tiles(m) {
            let (a_start, a_strides) = match a.layout {
                ALayout::RowMajor { ld } => ((i0 * ld + p0), (ld, 1)),
                ALayout::ColMajor { ld } => ((p0 * ld + i0), (1, ld)),
            };
            let tile = x86::Tile {
                k: kc,
                a: (a_data, a_start, a_strides),
                b: (b, b_start, ldb, next),
                c: (&mut *c, i0 * ldc + j0, ldc),
                start: init,
            };
            match (rows, halves) {
                (8, 2) => tile.run_wide::<8, 2, FUSED>(),
                (8, _) => tile.run_wide::<8, 1, FUSED>(),
                (_, 2) => tile.run_wide::<4, 2, FUSED>(),
                _ => tile.run_wide::<4, 1, FUSED>(),
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    unreachable!("wide tiles are for x86-64 only (see wide_tiles_for)")
}

/// `A` of `C += A · B`: its values and how they are laid out.
#[derive(Debug, Clone, Copy)]
struct AMatrix<'a, T> {
    data: &'a [T],
    layout: ALayout,
}

impl<T: Scalar> AMatrix<'_, T> {
    /// Element `(i, p)`.
    #[inline(always)]
    fn at(&self, i: usize, p: usize) -> T {
        match self.layout {
            ALayout::RowMajor { ld } => self.data[i * ld + p],
            ALayout::ColMajor { ld } => self.data[p * ld + i],
        }
    }
}

/// `B` and `C` of `C += A · B`: row-major with leading dimensions.
struct BC<'a, T> {
    b: &'a [T],
    ldb: usize,
    c: &'a mut [T],
    ldc: usize,
}

/// What each element of `C` starts its sum from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Start<'a, T> {
    /// `C`'s own value: `C += A · B`.
    Accumulate,
    /// Zero: `C = A · B` (no zeros written first and read back).
    Zero,
    /// Column `j`'s value of this row, in every row: `C = 1·rowᵀ + A · B`
    /// (a layer's bias, without a copy per row first).
    Row(&'a [T]),
}

impl<T: Scalar> Start<'_, T> {
    /// Row `r`'s `W` starting values at column `j0`.
    #[inline(always)]
    fn values<const W: usize>(self, c: &[T], ldc: usize, r: usize, j0: usize) -> [T; W] {
        let from = |v: &[T]| *v.first_chunk::<W>().expect("W columns from j0");
        match self {
            Self::Accumulate => from(&c[r * ldc + j0..]),
            Self::Zero => [T::ZERO; W],
            Self::Row(row) => from(&row[j0..]),
        }
    }
}

/// `C[m×n] = start + A[m×k] · B[k×n]`; `B` and `C` row-major with leading
/// dimensions `ldb` and `ldc`.
#[allow(clippy::too_many_arguments)] // a BLAS-style signature: sizes, then each matrix with its layout
#[inline(always)]
pub(crate) fn gemm_acc<T: Scalar, const FUSED: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_layout: ALayout,
    b: &[T],
    ldb: usize,
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
) {
    let a = AMatrix { data: a, layout: a_layout };
    let mut bc = BC { b, ldb, c, ldc };
    if k == 0 {
        return start_only(m, n, &mut bc, start);
    }
    // NR columns per tile; a lone row takes 4·NR at once (or 2·NR, a
    // weight panel's width), so that it too has several sums in flight.
    match TILE_ROW_BYTES / size_of::<T>() {
        16 => blocked::<T, 16, 32, 64, FUSED>(m, n, k, a, &mut bc, start),
        _ => blocked::<T, 8, 16, 32, FUSED>(m, n, k, a, &mut bc, start),
    }
}

/// `C = start` (a product over no terms).
fn start_only<T: Scalar>(m: usize, n: usize, bc: &mut BC<'_, T>, start: Start<'_, T>) {
    for i in 0..m {
        let row = &mut bc.c[i * bc.ldc..i * bc.ldc + n];
        match start {
            Start::Accumulate => {}
            Start::Zero => row.fill(T::ZERO),
            Start::Row(values) => row.copy_from_slice(&values[..n]),
        }
    }
}

#[inline(always)]
fn blocked<T: Scalar, const NR: usize, const MID: usize, const WIDE: usize, const FUSED: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: AMatrix<'_, T>,
    bc: &mut BC<'_, T>,
    start: Start<'_, T>,
) {
    let n_full = n - n % NR;
    if wide_tiles_for::<T, FUSED>() {
        let BC { b, ldb, ref mut c, ldc } = *bc;
        // Blocks of `p` outermost: a deep, narrow product (a convolution's
        // weight gradient, `k` = pixels of a chunk) keeps a block of `B`
        // and `A` in cache while every tile reads it, where a whole-depth
        // tile streamed all of `B` once per row tile.
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            // The first block of `p` starts each sum; the others go on.
            let start = if p0 == 0 { start } else { Start::Accumulate };
            for j0 in (0..n_full).step_by(2 * NR) {
                let halves = ((n_full - j0) / NR).min(2);
                let block = (b, p0 * ldb + j0, ldb, NR);
                wide_tiles::<T, FUSED>(m, (p0, kc), a, block, (&mut *c, ldc, start), j0, halves);
            }
        }
    } else {
        for j0 in (0..n_full).step_by(NR) {
            for (i0, rows) in row_tiles(m) {
                let BC { b, ldb, ref mut c, ldc } = *bc;
                row_tile::<T, NR, FUSED>(rows, (0, k), a, (b, ldb, j0), (c, ldc, start), (i0, j0));
            }
        }
    }
    edges::<T, NR, MID, WIDE, FUSED>(m, n, k, a, bc, start);
}

/// The parts of `C` outside whole `MR × NR` tiles: the rows past the last
/// whole group of `MR`, and the columns past the last whole `NR`.
#[inline(always)]
fn edges<T: Scalar, const NR: usize, const MID: usize, const WIDE: usize, const FUSED: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: AMatrix<'_, T>,
    bc: &mut BC<'_, T>,
    start: Start<'_, T>,
) {
    let n_full = n - n % NR;
    let m_full = m - m % MR;
    // Rows left over (fewer than MR; a single input): one at a time, as
    // wide as possible.
    for i in m_full..m {
        let mut j0 = 0;
        while j0 + WIDE <= n_full {
            tile::<T, 1, WIDE, FUSED>(k, a, bc, i, j0, start);
            j0 += WIDE;
        }
        // A 32-column weight panel: two vectors' worth at once.
        while j0 + MID <= n_full {
            tile::<T, 1, MID, FUSED>(k, a, bc, i, j0, start);
            j0 += MID;
        }
        while j0 < n_full {
            tile::<T, 1, NR, FUSED>(k, a, bc, i, j0, start);
            j0 += NR;
        }
    }
    // Fewer than NR columns left (the 2 outputs of a Q-network, the 4
    // inputs of CartPole).
    let BC { b, ldb, ref mut c, ldc } = *bc;
    narrow_columns::<T, FUSED>((m, k), a, (b, ldb, n_full), (c, ldc, start), n_full..n);
}

/// Columns `cols` of every row of `C`, fewer than a tile's width, their
/// `B` columns from `b_j0` on: blocks of 8, 4, 2 and 1 columns.
#[inline(always)]
fn narrow_columns<T: Scalar, const FUSED: bool>(
    (m, k): (usize, usize),
    a: AMatrix<'_, T>,
    (b, ldb, b_j0): (&[T], usize, usize),
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
    cols: std::ops::Range<usize>,
) {
    let mut j0 = cols.start;
    while j0 < cols.end {
        let width = match cols.end - j0 {
            8.. => 8,
            4..=7 => 4,
            2..=3 => 2,
            _ => 1,
        };
        let b = (b, ldb, b_j0 + (j0 - cols.start));
        match width {
            8 => narrow::<T, 8, FUSED>(m, k, a, b, (c, ldc, start), j0),
            4 => narrow::<T, 4, FUSED>(m, k, a, b, (c, ldc, start), j0),
            2 => narrow::<T, 2, FUSED>(m, k, a, b, (c, ldc, start), j0),
            _ => narrow::<T, 1, FUSED>(m, k, a, b, (c, ldc, start), j0),
        }
        j0 += width;
    }
}

/// Depth of a packed block of `B`: rows `p0..p0 + KC`.
const KC: usize = 256;
/// Tile columns packed together: a packed block is `KC × PACK_STRIPS·NR`
/// (64 KiB of `f32`), each strip of `NR` columns contiguous.
const PACK_STRIPS: usize = 4;
/// Rows of `C` from which packing pays: below it, each packed value would
/// be read by too few tiles to repay its copy.
const PACK_MIN_ROWS: usize = 4 * MR;
/// [`PACK_MIN_ROWS`] for the wide tiles.
const PACK_MIN_ROWS_WIDE: usize = 128;

/// [`gemm_acc`], with `B` copied block by block into `pack` (each strip of
/// `NR` columns, `KC` rows deep, made contiguous) when `C` has enough rows
/// to reuse it. Strided rows of `B` (a patch matrix 256 values wide, a
/// layer's inputs 1 024 wide) fall into a few cache sets and miss; packed,
/// a block stays in cache while every row tile of `C` reads it. Each
/// element is still summed over `p` in order, so the bits are
/// [`gemm_acc`]'s.
#[allow(clippy::too_many_arguments)] // gemm_acc's signature and its buffer
#[inline(always)]
pub(crate) fn gemm_acc_packed<T: Scalar, const FUSED: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    a_layout: ALayout,
    b: &[T],
    ldb: usize,
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
    pack: &mut Vec<T>,
) {
    // The wide tiles read blocks of `p` in place, a block of `B` staying in
    // L1 while the few row tiles of a short `C` read it: below
    // `PACK_MIN_ROWS_WIDE` rows, copying `B` (a fully connected layer's
    // weight, megabytes) cost more than it saved.
    let min_rows = if wide_tiles_for::<T, FUSED>() { PACK_MIN_ROWS_WIDE } else { PACK_MIN_ROWS };
    if m < min_rows || k == 0 {
        return gemm_acc::<T, FUSED>(m, n, k, a, a_layout, b, ldb, (c, ldc, start));
    }
    let a = AMatrix { data: a, layout: a_layout };
    let mut bc = BC { b, ldb, c, ldc };
    match TILE_ROW_BYTES / size_of::<T>() {
        16 => packed::<T, 16, 32, 64, FUSED>(m, n, k, a, &mut bc, pack, start),
        _ => packed::<T, 8, 16, 32, FUSED>(m, n, k, a, &mut bc, pack, start),
    }
}

#[inline(always)]
fn packed<T: Scalar, const NR: usize, const MID: usize, const WIDE: usize, const FUSED: bool>(
    m: usize,
    n: usize,
    k: usize,
    a: AMatrix<'_, T>,
    bc: &mut BC<'_, T>,
    pack: &mut Vec<T>,
    start: Start<'_, T>,
) {
    let n_full = n - n % NR;
    let strip = KC * NR;
    pack.resize(PACK_STRIPS * strip, T::ZERO);
    let BC { b, ldb, ref mut c, ldc } = *bc;
    for p0 in (0..k).step_by(KC) {
        let kc = KC.min(k - p0);
        for g0 in (0..n_full).step_by(PACK_STRIPS * NR) {
            let strips = ((n_full - g0) / NR).min(PACK_STRIPS);
            for (s, packed) in pack.chunks_exact_mut(strip).take(strips).enumerate() {
                for (p, row) in packed.chunks_exact_mut(NR).take(kc).enumerate() {
                    let from = (p0 + p) * ldb + g0 + s * NR;
                    row.copy_from_slice(&b[from..from + NR]);
                }
            }
            // Strip by strip: a strip's block (16 KiB) stays in L1 while
            // every row tile of `C` reads it. (Even a narrow `B`, a 32- or
            // 64-wide weight panel, ran 10–20 % slower read in place.)
            // The first block of `p` starts each sum; the others go on.
            let start = if p0 == 0 { start } else { Start::Accumulate };
            if wide_tiles_for::<T, FUSED>() {
                for s in (0..strips).step_by(2) {
                    let halves = (strips - s).min(2);
                    let block = (&pack[..strips * strip], s * strip, NR, strip);
                    wide_tiles::<T, FUSED>(m, (p0, kc), a, block, (&mut *c, ldc, start), g0 + s * NR, halves);
                }
                continue;
            }
            for s in 0..strips {
                let block = (&pack[s * strip..(s + 1) * strip], NR, 0);
                for (i0, rows) in row_tiles(m) {
                    row_tile::<T, NR, FUSED>(rows, (p0, kc), a, block, (&mut *c, ldc, start), (i0, g0 + s * NR));
                }
            }
        }
    }
    edges::<T, NR, MID, WIDE, FUSED>(m, n, k, a, bc, start);
}

/// Columns of `B` per panel in [`gemm_panels`]: one register tile's width
/// for `f32` (two for `f64`).
pub(crate) const PANEL: usize = 16;

/// `C[m×n] = start + A[m×k] · B[k×n]`, `A` row-major (rows `lda` apart),
/// `B` stored as panels of [`PANEL`] columns (columns `q·PANEL..`, `k ×
/// PANEL` row-major and contiguous, one panel after another, the last
/// `n mod PANEL` wide): a layer's forward copy of its weight. Each panel is
/// already what packing would make of it, so nothing is copied: a block of
/// [`KC`] rows of a panel (16 KiB) stays in L1 while every row tile of `C`
/// reads it, and a lone row (acting) runs across four panels at once, so
/// that eight sums are in flight. Each element is summed over `p` in
/// order, so the bits are [`gemm_acc`]'s on `B` itself.
#[inline(always)]
pub(crate) fn gemm_panels<T: Scalar, const FUSED: bool>(
    (m, n, k): (usize, usize, usize),
    (a, lda): (&[T], usize),
    panels: &[T],
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
) {
    let a = AMatrix { data: a, layout: ALayout::RowMajor { ld: lda } };
    if k == 0 {
        let mut bc = BC { b: panels, ldb: PANEL, c, ldc };
        return start_only(m, n, &mut bc, start);
    }
    match TILE_ROW_BYTES / size_of::<T>() {
        16 => panels_with::<T, 16, FUSED>((m, n, k), a, panels, (c, ldc, start)),
        _ => panels_with::<T, 8, FUSED>((m, n, k), a, panels, (c, ldc, start)),
    }
}

#[inline(always)]
fn panels_with<T: Scalar, const NR: usize, const FUSED: bool>(
    (m, n, k): (usize, usize, usize),
    a: AMatrix<'_, T>,
    panels: &[T],
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
) {
    let (whole, m_full) = (n / PANEL, m - m % MR);
    let panel = |q: usize| &panels[q * k * PANEL..(q + 1) * k * PANEL];
    let wide = wide_tiles_for::<T, FUSED>();
    for q in (0..whole).step_by(if wide { 2 } else { 1 }) {
        for p0 in (0..k).step_by(KC) {
            let kc = KC.min(k - p0);
            // The first block of `p` starts each sum; the others go on.
            let start = if p0 == 0 { start } else { Start::Accumulate };
            if wide {
                // Two panels side by side: the second starts a panel further on.
                let halves = (whole - q).min(2);
                let block = (panels, q * k * PANEL + p0 * PANEL, PANEL, k * PANEL);
                wide_tiles::<T, FUSED>(m, (p0, kc), a, block, (&mut *c, ldc, start), q * PANEL, halves);
                continue;
            }
            for jj in (0..PANEL).step_by(NR) {
                for (i0, rows) in row_tiles(m) {
                    let block = (panel(q), PANEL, p0 * PANEL + jj);
                    row_tile::<T, NR, FUSED>(rows, (p0, kc), a, block, (&mut *c, ldc, start), (i0, q * PANEL + jj));
                }
            }
        }
    }
    // Rows left over (fewer than MR; a single input): across as many
    // panels at once as there are.
    for i in m_full..m {
        let mut q = 0;
        while q < whole {
            let span = match whole - q {
                4.. => 4,
                2..=3 => 2,
                _ => 1,
            };
            let row = (&mut *c, ldc, start);
            match span {
                4 => row_across_panels::<T, 4, FUSED>(k, a, i, panels, q, row),
                2 => row_across_panels::<T, 2, FUSED>(k, a, i, panels, q, row),
                _ => row_across_panels::<T, 1, FUSED>(k, a, i, panels, q, row),
            }
            q += span;
        }
    }
    // The last panel, narrower than a tile: its own row stride.
    if whole * PANEL < n {
        let tail = (&panels[whole * PANEL * k..], n - whole * PANEL, 0);
        narrow_columns::<T, FUSED>((m, k), a, tail, (c, ldc, start), whole * PANEL..n);
    }
}

/// Row `i` of `C` at panels `q0..q0 + S` of [`gemm_panels`]'s `B`, its
/// `S·PANEL` sums held in registers while `p` runs over `k` in order.
#[inline(always)]
fn row_across_panels<T: Scalar, const S: usize, const FUSED: bool>(
    k: usize,
    a: AMatrix<'_, T>,
    i: usize,
    panels: &[T],
    q0: usize,
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
) {
    let j0 = q0 * PANEL;
    let mut acc: [[T; PANEL]; S] = std::array::from_fn(|s| start.values::<PANEL>(c, ldc, i, j0 + s * PANEL));
    // Each panel as its k rows, and A's row: slices of length k, so that
    // indexing them by p < k needs no check in the loop.
    let bs: [&[[T; PANEL]]; S] =
        std::array::from_fn(|s| panels[(q0 + s) * k * PANEL..(q0 + s + 1) * k * PANEL].as_chunks::<PANEL>().0);
    let ALayout::RowMajor { ld } = a.layout else { unreachable!("gemm_panels reads A row-major") };
    let a_row = &a.data[i * ld..i * ld + k];
    // Index loops, as in `tile_block`: with iterators LLVM kept the sums in
    // memory.
    #[allow(clippy::needless_range_loop)]
    for p in 0..k {
        let x = a_row[p];
        for s in 0..S {
            let b_row = &bs[s][p];
            for j in 0..PANEL {
                acc[s][j] = step::<T, FUSED>(acc[s][j], x, b_row[j]);
            }
        }
    }
    for (s, values) in acc.iter().enumerate() {
        c[i * ldc + j0 + s * PANEL..][..PANEL].copy_from_slice(values);
    }
}

/// One `R × W` tile of `C` at `(i0, j0)`, held in registers while `p` runs
/// over `k` in order.
#[inline(always)]
fn tile<T: Scalar, const R: usize, const W: usize, const FUSED: bool>(
    k: usize,
    a: AMatrix<'_, T>,
    bc: &mut BC<'_, T>,
    i0: usize,
    j0: usize,
    start: Start<'_, T>,
) {
    let BC { b, ldb, ref mut c, ldc } = *bc;
    tile_block::<T, R, W, FUSED>((0, k), a, (b, ldb, j0), (c, ldc, start), i0, j0);
}

/// The tile of [`tile`] over `p` in `p0..p0 + kc` only, its `B` rows read
/// from `b` at `b_start + (p − p0)·ldb` (a packed block of `B`, or `B`
/// itself): started from `start` (`C`'s values, for every block of `p` but
/// the first) and stored back, so running the blocks of `p` in order sums
/// each element in the same order as one pass.
#[inline(always)]
fn tile_block<T: Scalar, const R: usize, const W: usize, const FUSED: bool>(
    (p0, k): (usize, usize),
    a: AMatrix<'_, T>,
    (b, ldb, b_start): (&[T], usize, usize),
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
    i0: usize,
    j0: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if (R == MR || R == MR_WIDE)
        && W == x86::WIDTH
        && k > 0
        && let (Some(a_data), Some(b), Some(c)) = (T::as_f32(a.data), T::as_f32(b), T::as_f32_mut(&mut *c))
        && let Some(start) = match start {
            Start::Accumulate => Some(x86::Init::C),
            Start::Zero => Some(x86::Init::Zero),
            Start::Row(row) => T::as_f32(row).map(|row| x86::Init::Row(&row[j0..])),
        }
    {
        let (a_start, a_strides) = match a.layout {
            ALayout::RowMajor { ld } => ((i0 * ld + p0), (ld, 1)),
            ALayout::ColMajor { ld } => ((p0 * ld + i0), (1, ld)),
        };
        let tile = x86::Tile {
            k,
            a: (a_data, a_start, a_strides),
            b: (b, b_start, ldb, 0),
            c: (c, i0 * ldc + j0, ldc),
            start,
        };
        if tile.run::<R, FUSED>() {
            return;
        }
    }
    let mut acc: [[T; W]; R] = std::array::from_fn(|r| start.values::<W>(c, ldc, i0 + r, j0));
    // Borrow A's rows (or its column pieces) once, so the loop indexes
    // short slices whose bounds the compiler can see.
    // Row `p` of B's tile columns starts at `b_at`, advanced by `ldb` a
    // step: a multiply `p·ldb` and its overflow checks in the index were a
    // third of the loop's instructions.
    let b_row = |b_at: usize| -> &[T; W] { b[b_at..].first_chunk::<W>().expect("B holds W columns from j0") };
    let mut b_at = b_start;
    match a.layout {
        ALayout::RowMajor { ld } => {
            let rows: [&[T]; R] = std::array::from_fn(|r| &a.data[(i0 + r) * ld + p0..(i0 + r) * ld + p0 + k]);
            // An index loop on purpose: written with iterators, LLVM kept the
            // accumulators in memory and the loop ran 8× slower.
            #[allow(clippy::needless_range_loop)]
            for p in 0..k {
                let b_row = b_row(b_at);
                b_at += ldb;
                for r in 0..R {
                    let a_ip = rows[r][p];
                    for j in 0..W {
                        acc[r][j] = step::<T, FUSED>(acc[r][j], a_ip, b_row[j]);
                    }
                }
            }
        }
        ALayout::ColMajor { ld } => {
            let mut a_at = p0 * ld + i0;
            for _ in 0..k {
                let b_row = b_row(b_at);
                b_at += ldb;
                let a_col: &[T; R] = a.data[a_at..].first_chunk::<R>().expect("A holds R rows from i0");
                a_at += ld;
                for r in 0..R {
                    for j in 0..W {
                        acc[r][j] = step::<T, FUSED>(acc[r][j], a_col[r], b_row[j]);
                    }
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        c[(i0 + r) * ldc + j0..(i0 + r) * ldc + j0 + W].copy_from_slice(row);
    }
}

/// The AVX2 code written in intrinsics: the `f32` register tiles (`MR` or
/// `MR_WIDE` rows × 16) and the transpose's 8 × 8 blocks.
///
/// LLVM compiles the generic tile to the right arithmetic but loads each
/// row of `B` once per row of the tile (a load folded into every multiply):
/// 12 vector loads for 16 vector operations, so the loads, not the
/// arithmetic, set the pace. Here a row of `B` is loaded once into two
/// registers and each `A` value broadcast once: 6 loads for 16 operations
/// (8 for 24 with 6 rows).
/// The arithmetic is the generic tile's, step for step (`c + a·b` rounded
/// twice, or once when fused, over `p` in order), so the bits are too —
/// the kernel test compares both against the naive loops.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::{
        __m256, __m512, _mm256_add_ps, _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_mul_ps,
        _mm256_permute2f128_ps, _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_unpackhi_ps,
        _mm256_unpacklo_ps, _mm512_add_ps, _mm512_castpd_ps, _mm512_castps_pd, _mm512_fmadd_ps, _mm512_loadu_ps,
        _mm512_maskz_loadu_ps, _mm512_mul_ps, _mm512_reduce_add_ps, _mm512_set1_ps, _mm512_setzero_ps,
        _mm512_shuffle_f32x4, _mm512_storeu_ps, _mm512_unpackhi_pd, _mm512_unpackhi_ps, _mm512_unpacklo_pd,
        _mm512_unpacklo_ps,
    };

    /// Columns of the tile: two vectors of 8 `f32`.
    pub(super) const WIDTH: usize = 16;

    /// One tile's operands: each slice with the offset of the tile's first
    /// element and its strides. `A`'s element `(r, p)` is at
    /// `start + r·row_stride + p·step_stride`, `C`'s `(r, j)` at
    /// `start + r·ld + j`, `B`'s `(p, j)` at `start + p·ld + j` for the
    /// first 16 columns and, in a wide tile, `(p, 16 + j)` a further `next`
    /// on (16 where `B` is one row-major matrix, a panel's size where the
    /// halves are two panels). Run as an AVX2 tile ([`Tile::run`], 16
    /// columns) or an AVX-512 one ([`Tile::run_wide`], 16 or 32).
    pub(super) struct Tile<'a> {
        pub k: usize,
        pub a: (&'a [f32], usize, (usize, usize)),
        pub b: (&'a [f32], usize, usize, usize),
        pub c: (&'a mut [f32], usize, usize),
        /// What the sums start from.
        pub start: Init<'a>,
    }

    /// [`super::Start`] for the tile: `Row` holds the row from the tile's
    /// first column.
    #[derive(Clone, Copy)]
    pub(super) enum Init<'a> {
        C,
        Zero,
        Row(&'a [f32]),
    }

    impl Tile<'_> {
        /// Runs the tile (`R` rows × 16 columns) in AVX2 and returns `true`,
        /// or returns `false` (and does nothing) when the CPU lacks AVX2 (or
        /// FMA, for a fused tile). Panics, as indexing would, if an operand
        /// is too short.
        #[inline(always)]
        pub(super) fn run<const R: usize, const FUSED: bool>(self) -> bool {
            let supported =
                std::arch::is_x86_feature_detected!("avx2") && (!FUSED || std::arch::is_x86_feature_detected!("fma"));
            if !supported {
                return false;
            }
            let raw = self.checked::<R>(1);
            // SAFETY: the CPU has the features each function is compiled
            // for (checked above), and `checked` put every element each one
            // reads or writes inside the slices.
            unsafe {
                if FUSED {
                    tile_fma::<R>(raw);
                } else {
                    tile_avx2::<R>(raw);
                }
            }
            true
        }

        /// Runs the tile (`R` rows × `V` halves of 16 columns) in AVX-512.
        /// The caller has checked [`has_avx512`]; panics, as indexing
        /// would, if an operand is too short.
        #[inline(always)]
        pub(super) fn run_wide<const R: usize, const V: usize, const FUSED: bool>(self) {
            assert!(has_avx512(FUSED), "the caller checked for AVX-512");
            let raw = self.checked::<R>(V);
            // SAFETY: the CPU has AVX-512 (and FMA when fused), asserted
            // above, and `checked` put every element each function reads or
            // writes inside the slices.
            unsafe {
                if FUSED {
                    wide_fma::<R, V>(raw);
                } else {
                    wide_avx512::<R, V>(raw);
                }
            }
        }

        /// The operands as pointers, after asserting that every element a
        /// tile of `R` rows and `halves` × 16 columns touches lies inside
        /// its slice: the last of A at (R−1, k−1), of B at half
        /// `halves − 1`'s (k−1, 15), of C at (R−1, 16·halves − 1).
        #[inline(always)]
        fn checked<const R: usize>(self, halves: usize) -> Raw {
            let Self { k, a: (a, a_start, (a_rs, a_ps)), b: (b, b_start, ldb, next), c: (c, c_start, ldc), start } =
                self;
            assert!(k > 0, "a tile sums at least one product");
            assert!(a_start + (R - 1) * a_rs + (k - 1) * a_ps < a.len(), "A holds the tile's rows");
            assert!(b_start + (halves - 1) * next + (k - 1) * ldb + HALF <= b.len(), "B holds the tile's columns");
            assert!(c_start + (R - 1) * ldc + halves * HALF <= c.len(), "C holds the tile");
            // A null pointer for C's own values and for zeros.
            let row = match start {
                Init::Row(row) => row[..halves * HALF].as_ptr(),
                Init::C | Init::Zero => std::ptr::null(),
            };
            let zero = matches!(start, Init::Zero);
            Raw {
                k,
                a: a[a_start..].as_ptr(),
                strides: (a_rs, a_ps),
                b: b[b_start..].as_ptr(),
                ldb,
                next,
                c: c[c_start..].as_mut_ptr(),
                ldc,
                start: (zero, row),
            }
        }
    }

    /// The body of both tiles, `step` being the one rounding rule.
    macro_rules! tile_body {
        ($rows:expr, $raw:expr, $step:expr) => {{
            let Raw { k, a, strides: (a_rs, a_ps), b, ldb, c, ldc, start: (zero, row), .. } = $raw;
            let step = $step;
            let mut acc: [[__m256; 2]; $rows] = std::array::from_fn(|r| {
                if zero {
                    [_mm256_setzero_ps(); 2]
                } else if row.is_null() {
                    [_mm256_loadu_ps(c.add(r * ldc)), _mm256_loadu_ps(c.add(r * ldc + 8))]
                } else {
                    [_mm256_loadu_ps(row), _mm256_loadu_ps(row.add(8))]
                }
            });
            let rows: [*const f32; $rows] = std::array::from_fn(|r| a.add(r * a_rs));
            let (mut a_at, mut b_at) = (0, 0);
            for _ in 0..k {
                let b_lo = _mm256_loadu_ps(b.add(b_at));
                let b_hi = _mm256_loadu_ps(b.add(b_at + 8));
                for r in 0..$rows {
                    let x = _mm256_broadcast_ss(&*rows[r].add(a_at));
                    acc[r][0] = step(acc[r][0], x, b_lo);
                    acc[r][1] = step(acc[r][1], x, b_hi);
                }
                a_at += a_ps;
                b_at += ldb;
            }
            for (r, [lo, hi]) in acc.into_iter().enumerate() {
                _mm256_storeu_ps(c.add(r * ldc), lo);
                _mm256_storeu_ps(c.add(r * ldc + 8), hi);
            }
        }};
    }

    /// A tile's operands as pointers to its first elements, with the
    /// strides of [`Tile`].
    #[derive(Clone, Copy)]
    struct Raw {
        k: usize,
        a: *const f32,
        strides: (usize, usize),
        b: *const f32,
        ldb: usize,
        /// From `B`'s first 16 columns to its next 16 (wide tiles only).
        next: usize,
        c: *mut f32,
        ldc: usize,
        /// Whether the sums start from zero, else from `C` (a null row) or
        /// from the row.
        start: (bool, *const f32),
    }

    /// `c + a·b`, rounded after the multiply and after the add.
    #[target_feature(enable = "avx2")]
    unsafe fn tile_avx2<const R: usize>(raw: Raw) {
        // SAFETY: the caller's (see `Tile::run`).
        unsafe { tile_body!(R, raw, |c, a, b| _mm256_add_ps(c, _mm256_mul_ps(a, b))) }
    }

    /// `a·b + c`, rounded once.
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile_fma<const R: usize>(raw: Raw) {
        // SAFETY: the caller's (see `Tile::run`).
        unsafe { tile_body!(R, raw, |c, a, b| _mm256_fmadd_ps(a, b, c)) }
    }

    #[cfg(test)]
    thread_local! {
        /// Set by a test to run the AVX2 tiles on a CPU that has AVX-512.
        pub(super) static WITHOUT_AVX512: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// Whether the CPU has AVX-512 (and, for fused tiles, FMA): then `f32`
    /// products run in wide tiles ([`Tile::run_wide`]). (Checked once, cached by std.)
    #[inline(always)]
    pub(super) fn has_avx512(fused: bool) -> bool {
        #[cfg(test)]
        if WITHOUT_AVX512.with(std::cell::Cell::get) {
            return false;
        }
        std::arch::is_x86_feature_detected!("avx512f") && (!fused || std::arch::is_x86_feature_detected!("fma"))
    }

    /// Columns of a wide tile's half: one 512-bit register of `f32`.
    pub(super) const HALF: usize = 16;

    /// The body of both wide tiles, `step` being the one rounding rule: a
    /// step of `p` loads `V` registers of `B`, broadcasts `R` values of `A`
    /// and updates `R·V` sums.
    macro_rules! wide_body {
        ($rows:expr, $halves:expr, $raw:expr, $step:expr) => {{
            let Raw { k, a, strides: (a_rs, a_ps), b, ldb, next, c, ldc, start: (zero, row) } = $raw;
            let step = $step;
            let mut acc: [[__m512; $halves]; $rows] = std::array::from_fn(|r| {
                std::array::from_fn(|v| {
                    if zero {
                        _mm512_setzero_ps()
                    } else if row.is_null() {
                        _mm512_loadu_ps(c.add(r * ldc + v * HALF))
                    } else {
                        _mm512_loadu_ps(row.add(v * HALF))
                    }
                })
            });
            let rows: [*const f32; $rows] = std::array::from_fn(|r| a.add(r * a_rs));
            let halves: [*const f32; $halves] = std::array::from_fn(|v| b.add(v * next));
            let (mut a_at, mut b_at) = (0, 0);
            for _ in 0..k {
                let bv: [__m512; $halves] = std::array::from_fn(|v| _mm512_loadu_ps(halves[v].add(b_at)));
                for r in 0..$rows {
                    let x = _mm512_set1_ps(*rows[r].add(a_at));
                    for v in 0..$halves {
                        acc[r][v] = step(acc[r][v], x, bv[v]);
                    }
                }
                a_at += a_ps;
                b_at += ldb;
            }
            for (r, sums) in acc.into_iter().enumerate() {
                for (v, sum) in sums.into_iter().enumerate() {
                    _mm512_storeu_ps(c.add(r * ldc + v * HALF), sum);
                }
            }
        }};
    }

    /// `c + a·b`, rounded after the multiply and after the add.
    #[target_feature(enable = "avx512f")]
    unsafe fn wide_avx512<const R: usize, const V: usize>(raw: Raw) {
        // SAFETY: the caller's (see `Tile::run_wide`).
        unsafe { wide_body!(R, V, raw, |c, a, b| _mm512_add_ps(c, _mm512_mul_ps(a, b))) }
    }

    /// `a·b + c`, rounded once.
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn wide_fma<const R: usize, const V: usize>(raw: Raw) {
        // SAFETY: the caller's (see `Tile::run_wide`).
        unsafe { wide_body!(R, V, raw, |c, a, b| _mm512_fmadd_ps(a, b, c)) }
    }

    /// `W` (< 16) columns of 16 rows of `C` in AVX-512 registers, one
    /// register per column, a lane per row: for a product too narrow for a
    /// tile (a Q-network's few outputs), where the generic loop ran a scalar
    /// multiply and add per value. Row-major `A` is read 16 × 16 at a time
    /// and transposed in registers; column-major `A` is loaded as it is.
    /// Each lane sums over `p` in order, as the generic loop does, so the
    /// bits are the same. Operands as in [`Tile`] (`B`'s `(p, j)` at
    /// `start + p·ld + j`).
    pub(super) struct NarrowRows<'a> {
        pub k: usize,
        pub a: (&'a [f32], usize, (usize, usize)),
        pub b: (&'a [f32], usize, usize),
        pub c: (&'a mut [f32], usize, usize),
        pub start: Init<'a>,
    }

    impl NarrowRows<'_> {
        /// Runs it. The caller has checked [`has_avx512`]; panics, as
        /// indexing would, if an operand is too short.
        #[inline(always)]
        pub(super) fn run<const W: usize, const FUSED: bool>(self) {
            assert!(has_avx512(FUSED), "the caller checked for AVX-512");
            let Self { k, a: (a, a_start, (a_rs, a_ps)), b: (b, b_start, ldb), c: (c, c_start, ldc), start } = self;
            assert!(k > 0 && W > 0 && W < HALF, "a narrow block sums at least one product");
            assert!(a_start + (HALF - 1) * a_rs + (k - 1) * a_ps < a.len(), "A holds the 16 rows");
            assert!(b_start + (k - 1) * ldb + W <= b.len(), "B holds the columns");
            assert!(c_start + (HALF - 1) * ldc + W <= c.len(), "C holds the block");
            let starts: [[f32; HALF]; W] = std::array::from_fn(|j| {
                std::array::from_fn(|r| match start {
                    Init::C => c[c_start + r * ldc + j],
                    Init::Zero => 0.0,
                    Init::Row(row) => row[j],
                })
            });
            let a = a[a_start..].as_ptr();
            let b = b[b_start..].as_ptr();
            let mut sums = [[0.0f32; HALF]; W];
            // SAFETY: the CPU has AVX-512 (and FMA when fused), asserted
            // above, and the assertions put every element read inside the
            // slices (row-major `A` is read 16 values at a time only where
            // all 16 lie before `k`; the last block with masked loads).
            unsafe {
                if FUSED {
                    narrow_fma::<W>(k, a, (a_rs, a_ps), (b, ldb), &starts, &mut sums);
                } else {
                    narrow_avx512::<W>(k, a, (a_rs, a_ps), (b, ldb), &starts, &mut sums);
                }
            }
            for (j, column) in sums.iter().enumerate() {
                for (r, &v) in column.iter().enumerate() {
                    c[c_start + r * ldc + j] = v;
                }
            }
        }
    }

    /// Rows `r` of 16 vectors as columns: `out[q]` lane `r` = `rows[r]` lane
    /// `q`. A macro, not a function with closures: a closure is compiled
    /// apart, without AVX-512, and its intrinsics became calls (the first
    /// version ran the grid's updates 15–35 % slower).
    macro_rules! transpose16 {
        ($rows:expr) => {{
            let rows: [__m512; 16] = $rows;
            // Pairs of rows interleaved within each 128-bit lane L:
            // t[2i] = a(4L) b(4L) a(4L+1) b(4L+1), t[2i+1] the next two.
            let mut t = [_mm512_setzero_ps(); 16];
            for i in 0..8 {
                t[2 * i] = _mm512_unpacklo_ps(rows[2 * i], rows[2 * i + 1]);
                t[2 * i + 1] = _mm512_unpackhi_ps(rows[2 * i], rows[2 * i + 1]);
            }
            // Fours: u[4g + s] holds, in lane L, column 4L + s of rows 4g..4g + 4.
            let mut u = [_mm512_setzero_ps(); 16];
            for g in 0..4 {
                for h in 0..2 {
                    let x = _mm512_castps_pd(t[4 * g + h]);
                    let y = _mm512_castps_pd(t[4 * g + 2 + h]);
                    u[4 * g + 2 * h] = _mm512_castpd_ps(_mm512_unpacklo_pd(x, y));
                    u[4 * g + 2 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(x, y));
                }
            }
            // Lane L of the four groups side by side: column 4L + s.
            let mut out = [_mm512_setzero_ps(); 16];
            for s in 0..4 {
                let even = _mm512_shuffle_f32x4::<0x88>(u[s], u[4 + s]);
                let even_hi = _mm512_shuffle_f32x4::<0x88>(u[8 + s], u[12 + s]);
                let odd = _mm512_shuffle_f32x4::<0xDD>(u[s], u[4 + s]);
                let odd_hi = _mm512_shuffle_f32x4::<0xDD>(u[8 + s], u[12 + s]);
                out[s] = _mm512_shuffle_f32x4::<0x88>(even, even_hi);
                out[8 + s] = _mm512_shuffle_f32x4::<0xDD>(even, even_hi);
                out[4 + s] = _mm512_shuffle_f32x4::<0x88>(odd, odd_hi);
                out[12 + s] = _mm512_shuffle_f32x4::<0xDD>(odd, odd_hi);
            }
            out
        }};
    }

    /// The body of both narrow blocks, `$step` being the one rounding rule
    /// (written out, not a closure, for the reason of `transpose16`).
    macro_rules! narrow_body {
        ($w:expr, $k:expr, $a:expr, $strides:expr, $b:expr, $starts:expr, $sums:expr, $step:ident) => {{
            let (a, (a_rs, a_ps), (b, ldb)) = ($a, $strides, $b);
            let mut acc = [_mm512_setzero_ps(); $w];
            for j in 0..$w {
                acc[j] = _mm512_loadu_ps($starts[j].as_ptr());
            }
            if a_ps == 1 {
                // Row-major: 16 values of each row, turned into 16 columns.
                let mut p0 = 0;
                while p0 < $k {
                    let n = ($k - p0).min(HALF);
                    let mask: u16 = if n == HALF { u16::MAX } else { (1u16 << n) - 1 };
                    let mut rows = [_mm512_setzero_ps(); 16];
                    for r in 0..HALF {
                        rows[r] = _mm512_maskz_loadu_ps(mask, a.add(r * a_rs + p0));
                    }
                    let columns = transpose16!(rows);
                    for q in 0..n {
                        for j in 0..$w {
                            let x = _mm512_set1_ps(*b.add((p0 + q) * ldb + j));
                            acc[j] = $step!(acc[j], columns[q], x);
                        }
                    }
                    p0 += HALF;
                }
            } else {
                // Column-major: each column of the 16 rows is contiguous.
                debug_assert_eq!(a_rs, 1);
                for p in 0..$k {
                    let column = _mm512_loadu_ps(a.add(p * a_ps));
                    for j in 0..$w {
                        acc[j] = $step!(acc[j], column, _mm512_set1_ps(*b.add(p * ldb + j)));
                    }
                }
            }
            for j in 0..$w {
                _mm512_storeu_ps($sums[j].as_mut_ptr(), acc[j]);
            }
        }};
    }

    /// `c + a·b` in AVX-512, rounded after the multiply and after the add.
    macro_rules! mul_then_add {
        ($c:expr, $a:expr, $b:expr) => {
            _mm512_add_ps($c, _mm512_mul_ps($a, $b))
        };
    }

    /// `a·b + c` in AVX-512, rounded once.
    macro_rules! fused_mul_add {
        ($c:expr, $a:expr, $b:expr) => {
            _mm512_fmadd_ps($a, $b, $c)
        };
    }

    /// `c + a·b`, rounded after the multiply and after the add.
    #[target_feature(enable = "avx512f")]
    unsafe fn narrow_avx512<const W: usize>(
        k: usize,
        a: *const f32,
        strides: (usize, usize),
        b: (*const f32, usize),
        starts: &[[f32; HALF]; W],
        sums: &mut [[f32; HALF]; W],
    ) {
        // SAFETY: the caller's (see `NarrowRows::run`).
        unsafe { narrow_body!(W, k, a, strides, b, starts, sums, mul_then_add) }
    }

    /// `a·b + c`, rounded once.
    #[target_feature(enable = "avx512f,fma")]
    unsafe fn narrow_fma<const W: usize>(
        k: usize,
        a: *const f32,
        strides: (usize, usize),
        b: (*const f32, usize),
        starts: &[[f32; HALF]; W],
        sums: &mut [[f32; HALF]; W],
    ) {
        // SAFETY: the caller's (see `NarrowRows::run`).
        unsafe { narrow_body!(W, k, a, strides, b, starts, sums, fused_mul_add) }
    }

    /// The ceiling probe (see [`crate::mul_add_ceiling_probe`]) in the
    /// widest registers the tiles use: `(a value to keep, FLOP done)`, or
    /// `None` without AVX2 (and FMA, for the fused probe).
    pub(super) fn ceiling_probe<const FUSED: bool>(iters: usize) -> Option<(f32, u64)> {
        let flop = |lanes: usize| (2 * lanes * PROBE_SUMS * iters) as u64;
        if has_avx512(FUSED) {
            // SAFETY: the CPU has AVX-512 (and FMA when fused), checked just above.
            return Some((unsafe { probe_avx512::<FUSED>(iters) }, flop(16)));
        }
        let avx2 = std::arch::is_x86_feature_detected!("avx2");
        if !avx2 || (FUSED && !std::arch::is_x86_feature_detected!("fma")) {
            return None;
        }
        // SAFETY: the CPU has AVX2 (and FMA when fused), checked just above.
        Some((unsafe { if FUSED { probe_fma::<FUSED>(iters) } else { probe_avx2::<FUSED>(iters) } }, flop(8)))
    }

    /// Sums in flight in the probe: a 6 × 2 tile's.
    const PROBE_SUMS: usize = 12;

    /// The probe's loop for either register width: `PROBE_SUMS` sums, each
    /// adding a product per round as a tile's does (`c + a·b`, the product
    /// independent of the sum), the `b` loaded per round from a small table
    /// in L1 so that no product can be hoisted out of the loop.
    macro_rules! probe_body {
        ($iters:expr, $fused:expr, $lanes:expr, $vec:ty, $zero:expr, $set1:expr, $load:expr, $mul:expr, $add:expr, $fma:expr, $reduce:expr) => {{
            let table = std::hint::black_box([[1e-3f32; $lanes]; 8]);
            let scales =
                std::hint::black_box([0.5f32, 0.25, 0.125, 1.0, 2.0, 0.75, 1.5, 0.375, 0.625, 0.875, 1.25, 1.75]);
            let a: [$vec; PROBE_SUMS] = std::array::from_fn(|j| $set1(scales[j]));
            let mut acc: [$vec; PROBE_SUMS] = [$zero; PROBE_SUMS];
            for round in 0..$iters {
                let b = $load(table[round % 8].as_ptr());
                for j in 0..PROBE_SUMS {
                    acc[j] = if $fused { $fma(a[j], b, acc[j]) } else { $add(acc[j], $mul(a[j], b)) };
                }
            }
            let total = acc.into_iter().fold($zero, |s, x| $add(s, x));
            $reduce(total)
        }};
    }

    #[target_feature(enable = "avx512f,fma")]
    unsafe fn probe_avx512<const FUSED: bool>(iters: usize) -> f32 {
        // SAFETY: the caller's: the CPU has AVX-512 (and FMA when fused).
        unsafe {
            probe_body!(
                iters,
                FUSED,
                16,
                __m512,
                _mm512_setzero_ps(),
                _mm512_set1_ps,
                |p| _mm512_loadu_ps(p),
                |a, b| _mm512_mul_ps(a, b),
                |a, b| _mm512_add_ps(a, b),
                |a, b, c| _mm512_fmadd_ps(a, b, c),
                |v| _mm512_reduce_add_ps(v)
            )
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn probe_avx2<const FUSED: bool>(iters: usize) -> f32 {
        // SAFETY: the caller's: the CPU has AVX2 (FUSED is false).
        unsafe { probe_avx2_body::<false>(iters) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn probe_fma<const FUSED: bool>(iters: usize) -> f32 {
        // SAFETY: the caller's: the CPU has AVX2 and FMA.
        unsafe { probe_avx2_body::<true>(iters) }
    }

    #[inline(always)]
    unsafe fn probe_avx2_body<const FUSED: bool>(iters: usize) -> f32 {
        // SAFETY: the caller's: the CPU has AVX2 (and FMA when fused).
        unsafe {
            probe_body!(
                iters,
                FUSED,
                8,
                __m256,
                _mm256_setzero_ps(),
                |x| _mm256_broadcast_ss(&x),
                |p| _mm256_loadu_ps(p),
                |a, b| _mm256_mul_ps(a, b),
                |a, b| _mm256_add_ps(a, b),
                |a, b, c| _mm256_fmadd_ps(a, b, c),
                |v: __m256| {
                    let mut lanes = [0.0f32; 8];
                    _mm256_storeu_ps(lanes.as_mut_ptr(), v);
                    lanes.iter().sum::<f32>()
                }
            )
        }
    }

    /// The whole 8 × 8 blocks of an `f32` [`Transpose`] in AVX2 shuffles: the
    /// generic blocks compile to a scalar move per value, and the forward copy
    /// of every weight is rewritten by a transpose after each optimizer step
    /// (6 % of a MinAtar-network update). A transpose moves values and rounds
    /// nothing, so the bits are the generic code's.
    ///
    /// Transposes the `rows_full × cols_full` corner of `src` (rows
    /// `src_ld` apart, both sizes multiples of 8) into `dst` (rows
    /// `dst_ld` apart) and returns `true`, or returns `false` (and does
    /// nothing) when the CPU lacks AVX2. Panics, as indexing would, if a
    /// slice is too short.
    #[inline(always)]
    pub(super) fn transpose_blocks(
        src: &[f32],
        src_ld: usize,
        (rows_full, cols_full): (usize, usize),
        dst: &mut [f32],
        dst_ld: usize,
    ) -> bool {
        if !std::arch::is_x86_feature_detected!("avx2") {
            return false;
        }
        if rows_full == 0 || cols_full == 0 {
            return true;
        }
        assert!(rows_full.is_multiple_of(8) && cols_full.is_multiple_of(8), "whole blocks");
        assert!((rows_full - 1) * src_ld + cols_full <= src.len(), "the source holds the blocks");
        assert!((cols_full - 1) * dst_ld + rows_full <= dst.len(), "the destination holds the blocks");
        // SAFETY: the CPU has AVX2 (checked above), and the assertions put
        // every value read or written inside the slices.
        unsafe { transpose_blocks_avx2(src.as_ptr(), src_ld, (rows_full, cols_full), dst.as_mut_ptr(), dst_ld) };
        true
    }

    #[target_feature(enable = "avx2")]
    unsafe fn transpose_blocks_avx2(
        src: *const f32,
        src_ld: usize,
        (rows, cols): (usize, usize),
        dst: *mut f32,
        dst_ld: usize,
    ) {
        for i0 in (0..rows).step_by(8) {
            for j0 in (0..cols).step_by(8) {
                // SAFETY: the caller's (see `transpose_blocks`): rows i0..i0 + 8 and
                // columns j0..j0 + 8 lie inside both matrices.
                unsafe {
                    let r: [__m256; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add((i0 + i) * src_ld + j0)));
                    // Pairs of rows interleaved, then quadruples, then the
                    // 128-bit halves swapped: row c of `out` is column c.
                    let t: [__m256; 8] = std::array::from_fn(|i| {
                        let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
                        if i % 2 == 0 { _mm256_unpacklo_ps(a, b) } else { _mm256_unpackhi_ps(a, b) }
                    });
                    let quad = |a: __m256, b: __m256, high: bool| {
                        if high { _mm256_shuffle_ps::<0xEE>(a, b) } else { _mm256_shuffle_ps::<0x44>(a, b) }
                    };
                    // s[q]: columns q (low half) and q + 4 (high half) of
                    // rows 0–3 (s[0..4]) or rows 4–7 (s[4..8]).
                    let s = [
                        quad(t[0], t[2], false),
                        quad(t[0], t[2], true),
                        quad(t[1], t[3], false),
                        quad(t[1], t[3], true),
                        quad(t[4], t[6], false),
                        quad(t[4], t[6], true),
                        quad(t[5], t[7], false),
                        quad(t[5], t[7], true),
                    ];
                    for c in 0..4 {
                        let low = _mm256_permute2f128_ps::<0x20>(s[c], s[c + 4]);
                        let high = _mm256_permute2f128_ps::<0x31>(s[c], s[c + 4]);
                        _mm256_storeu_ps(dst.add((j0 + c) * dst_ld + i0), low);
                        _mm256_storeu_ps(dst.add((j0 + c + 4) * dst_ld + i0), high);
                    }
                }
            }
        }
    }
}

/// Rows per group in [`narrow`]: enough independent sums to hide the adds'
/// latency when each row has only a few columns.
const NARROW_ROWS: usize = 8;

/// Columns `j0..j0 + W` of every row of `C` (from `B`'s columns `b_j0..`),
/// for `W` below a register tile: `NARROW_ROWS` rows at a time, their `W`
/// sums held in registers while `p` runs over `k` in order.
#[inline(always)]
fn narrow<T: Scalar, const W: usize, const FUSED: bool>(
    m: usize,
    k: usize,
    a: AMatrix<'_, T>,
    (b, ldb, b_j0): (&[T], usize, usize),
    (c, ldc, start): (&mut [T], usize, Start<'_, T>),
    j0: usize,
) {
    let mut i0 = 0;
    #[cfg(target_arch = "x86_64")]
    if wide_tiles_for::<T, FUSED>()
        && let (Some(a_data), Some(b), Some(c)) = (T::as_f32(a.data), T::as_f32(b), T::as_f32_mut(&mut *c))
    {
        // 16 rows at a time, across the rows (see `x86::NarrowRows`).
        let strides = match a.layout {
            ALayout::RowMajor { ld } => (ld, 1),
            ALayout::ColMajor { ld } => (1, ld),
        };
        while i0 + x86::HALF <= m && k > 0 {
            let init = match start {
                Start::Accumulate => x86::Init::C,
                Start::Zero => x86::Init::Zero,
                Start::Row(row) => x86::Init::Row(&T::as_f32(row).expect("f32, as C")[j0..]),
            };
            let rows = x86::NarrowRows {
                k,
                a: (a_data, i0 * strides.0, strides),
                b: (b, b_j0, ldb),
                c: (&mut *c, i0 * ldc + j0, ldc),
                start: init,
            };
            rows.run::<W, FUSED>();
            i0 += x86::HALF;
        }
    }
    while i0 < m {
        let rows = NARROW_ROWS.min(m - i0);
        let mut acc = [[T::ZERO; W]; NARROW_ROWS];
        for (r, row) in acc.iter_mut().enumerate().take(rows) {
            *row = start.values::<W>(c, ldc, i0 + r, j0);
        }
        for p in 0..k {
            let b_row: &[T; W] = b[p * ldb + b_j0..].first_chunk::<W>().expect("B holds W columns from b_j0");
            for (r, row) in acc.iter_mut().enumerate().take(rows) {
                let a_ip = a.at(i0 + r, p);
                for j in 0..W {
                    row[j] = step::<T, FUSED>(row[j], a_ip, b_row[j]);
                }
            }
        }
        for (r, row) in acc.iter().enumerate().take(rows) {
            c[(i0 + r) * ldc + j0..(i0 + r) * ldc + j0 + W].copy_from_slice(row);
        }
        i0 += rows;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The generic tile (the one `f32` takes without AVX2; `f64` always),
    /// against the naive loop in `f64`, packed and not.
    #[test]
    fn the_generic_tile_matches_the_naive_loop() {
        let mut seed = 7u64;
        let mut next = || {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for (m, n, k) in [(4, 8, 3), (17, 70, 300), (40, 24, 520)] {
            let a: Vec<f64> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f64> = (0..k * n).map(|_| next()).collect();
            let mut expected: Vec<f64> = (0..m * n).map(|_| next()).collect();
            let c0 = expected.clone();
            for i in 0..m {
                for j in 0..n {
                    for p in 0..k {
                        expected[i * n + j] += a[i * k + p] * b[p * n + j];
                    }
                }
            }
            let mut c = c0.clone();
            gemm_acc::<f64, false>(m, n, k, &a, ALayout::RowMajor { ld: k }, &b, n, (&mut c, n, Start::Accumulate));
            assert_eq!(c, expected, "{m}x{n}x{k}");
            let mut c = c0;
            gemm_acc_packed::<f64, false>(
                m,
                n,
                k,
                &a,
                ALayout::RowMajor { ld: k },
                &b,
                n,
                (&mut c, n, Start::Accumulate),
                &mut Vec::new(),
            );
            assert_eq!(c, expected, "packed, {m}x{n}x{k}");
        }
    }

    /// The transpose (its AVX2 blocks for `f32`, the generic ones for
    /// `f64`) against the definition, across whole blocks and ragged edges,
    /// with a source wider than its columns.
    #[test]
    fn transpose_matches_the_definition() {
        for (rows, cols, src_ld) in [(8, 8, 8), (16, 24, 30), (13, 70, 70), (64, 9, 11), (3, 5, 5), (40, 1024, 1040)] {
            let src: Vec<f32> = (0..rows * src_ld).map(|i| i as f32 * 0.5 - 7.0).collect();
            let expected: Vec<f32> = (0..cols * rows).map(|at| src[(at % rows) * src_ld + at / rows]).collect();
            let mut dst = vec![f32::NAN; cols * rows];
            vectorized(Transpose { src: &src, src_ld, rows, cols, dst: &mut dst });
            assert_eq!(dst, expected, "f32, {rows}x{cols}");
            let src64: Vec<f64> = src.iter().map(|&v| f64::from(v)).collect();
            let mut dst64 = vec![f64::NAN; cols * rows];
            Transpose { src: &src64, src_ld, rows, cols, dst: &mut dst64 }.run();
            assert!(dst64.iter().zip(&expected).all(|(&a, &b)| a == f64::from(b)), "f64, {rows}x{cols}");
        }
    }

    /// Runs `check` with every kind of `f32` tile this CPU has: the AVX-512
    /// ones where it has them, and the AVX2 ones (set for this thread only).
    fn with_each_tile_kind(mut check: impl FnMut()) {
        check();
        #[cfg(target_arch = "x86_64")]
        if x86::has_avx512(false) {
            x86::WITHOUT_AVX512.with(|without| without.set(true));
            check();
            x86::WITHOUT_AVX512.with(|without| without.set(false));
        }
    }

    /// Values in [−0.5, 0.5) from a linear congruential stream.
    fn uniform_values(mut seed: u32) -> impl FnMut() -> f32 {
        move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
        }
    }

    /// `c + A·B` by the definition (row-major, each sum over `p` in order).
    fn naive_from<T: Scalar>((m, n, k): (usize, usize, usize), a: &[T], b: &[T], mut c: Vec<T>) -> Vec<T> {
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    c[i * n + j] = c[i * n + j] + a[i * k + p] * b[p * n + j];
                }
            }
        }
        c
    }

    /// `B` (`k × n`, row-major) as [`gemm_panels`] reads it.
    fn panels_of<T: Copy>(b: &[T], k: usize, n: usize) -> Vec<T> {
        (0..n.div_ceil(PANEL))
            .flat_map(|q| {
                let cols = q * PANEL..(q * PANEL + PANEL).min(n);
                (0..k).flat_map(move |p| cols.clone().map(move |j| b[p * n + j]))
            })
            .collect()
    }

    /// The panel kernel against the naive loop, bit for bit, plain and
    /// fused, `f32` and `f64`: lone rows across one to four panels, row
    /// tiles with rows left over, a narrower last panel, several blocks of
    /// `p`, and sums started from the bias.
    #[test]
    fn panels_match_the_naive_loop_exactly() {
        with_each_tile_kind(panels_match_the_naive_loop);
    }

    fn panels_match_the_naive_loop() {
        let mut next = uniform_values(3);
        for (m, n, k) in [
            (1, 128, 4),
            (1, 2, 128),
            (1, 112, 33),
            (3, 70, 9),
            (5, 16, 300),
            (17, 38, 530),
            (40, 64, 260),
            (29, 80, 7),
        ] {
            let a: Vec<f32> = (0..m * k).map(|_| next()).collect();
            let b: Vec<f32> = (0..k * n).map(|_| next()).collect();
            let bias: Vec<f32> = (0..n).map(|_| next()).collect();
            let naive = |fused: bool| {
                let mut c = bias.repeat(m);
                for i in 0..m {
                    for j in 0..n {
                        for p in 0..k {
                            let (x, y) = (a[i * k + p], b[p * n + j]);
                            c[i * n + j] = if fused { x.mul_add(y, c[i * n + j]) } else { c[i * n + j] + x * y };
                        }
                    }
                }
                c
            };
            let panels = panels_of(&b, k, n);
            let mut c = vec![f32::NAN; m * n];
            gemm_panels::<f32, false>((m, n, k), (&a, k), &panels, (&mut c, n, Start::Row(&bias)));
            assert_eq!(c, naive(false), "{m}x{n}x{k}");
            let mut c = vec![f32::NAN; m * n];
            gemm_panels::<f32, true>((m, n, k), (&a, k), &panels, (&mut c, n, Start::Row(&bias)));
            assert_eq!(c, naive(true), "fused, {m}x{n}x{k}");
            let wide = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
            let (a64, b64, bias64) = (wide(&a), wide(&b), wide(&bias));
            let expected = naive_from((m, n, k), &a64, &b64, bias64.repeat(m));
            let mut c = vec![f64::NAN; m * n];
            gemm_panels::<f64, false>((m, n, k), (&a64, k), &panels_of(&b64, k, n), (&mut c, n, Start::Row(&bias64)));
            assert_eq!(c, expected, "f64, {m}x{n}x{k}");
        }
    }

    /// A fused `gemm_acc` as a job, to run it FMA-compiled.
    struct Gemm<'a> {
        m: usize,
        n: usize,
        k: usize,
        a: &'a [f32],
        layout: ALayout,
        b: &'a [f32],
        c: &'a mut [f32],
    }

    impl Job for Gemm<'_> {
        type Output = ();
        #[inline(always)]
        fn run(self) {
            gemm_acc::<f32, true>(
                self.m,
                self.n,
                self.k,
                self.a,
                self.layout,
                self.b,
                self.n,
                (self.c, self.n, Start::Accumulate),
            );
        }
    }

    /// The kernel against the obvious triple loop, bit for bit, across sizes
    /// that hit full tiles and every kind of edge.
    #[test]
    fn matches_the_naive_loop_exactly() {
        with_each_tile_kind(matches_the_naive_loop);
    }

    fn matches_the_naive_loop() {
        let mut next = uniform_values(1);
        // The last four run the packed kernel over several blocks of `p`,
        // of tile columns, and with rows and columns left over.
        let sizes = [(1, 1, 1), (6, 32, 5), (13, 70, 9), (64, 128, 128), (7, 2, 128), (128, 4, 33)];
        for (m, n, k) in sizes.into_iter().chain([(16, 16, 300), (37, 85, 530), (70, 130, 257), (20, 40, 600)]) {
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
            let mut fused = c0.clone();
            for i in 0..m {
                for j in 0..n {
                    for p in 0..k {
                        fused[i * n + j] = a[i * k + p].mul_add(b[p * n + j], fused[i * n + j]);
                    }
                }
            }
            let a_t: Vec<f32> = (0..k * m).map(|idx| a[(idx % m) * k + idx / m]).collect();
            let mut c = c0.clone();
            gemm_acc::<f32, false>(m, n, k, &a, ALayout::RowMajor { ld: k }, &b, n, (&mut c, n, Start::Accumulate));
            assert_eq!(c, expected, "row-major A, {m}x{n}x{k}");
            // The same A stored transposed.
            let mut c = c0.clone();
            gemm_acc::<f32, false>(m, n, k, &a_t, ALayout::ColMajor { ld: m }, &b, n, (&mut c, n, Start::Accumulate));
            assert_eq!(c, expected, "column-major A, {m}x{n}x{k}");
            // Packed, with either layout, plain and fused.
            let mut pack = Vec::new();
            for (a_in, layout) in [(&a, ALayout::RowMajor { ld: k }), (&a_t, ALayout::ColMajor { ld: m })] {
                let mut c = c0.clone();
                gemm_acc_packed::<f32, false>(m, n, k, a_in, layout, &b, n, (&mut c, n, Start::Accumulate), &mut pack);
                assert_eq!(c, expected, "packed, {layout:?}, {m}x{n}x{k}");
                let mut c = c0.clone();
                gemm_acc_packed::<f32, true>(m, n, k, a_in, layout, &b, n, (&mut c, n, Start::Accumulate), &mut pack);
                assert_eq!(c, fused, "packed fused, {layout:?}, {m}x{n}x{k}");
            }
            // Fused: the fused loop's bits, in the plain build and in the
            // FMA-compiled one.
            for layout in [ALayout::RowMajor { ld: k }, ALayout::ColMajor { ld: m }] {
                let a_in = if matches!(layout, ALayout::RowMajor { .. }) { &a } else { &a_t };
                let mut c = c0.clone();
                gemm_acc::<f32, true>(m, n, k, a_in, layout, &b, n, (&mut c, n, Start::Accumulate));
                assert_eq!(c, fused, "fused, {layout:?}, {m}x{n}x{k}");
                let mut c = c0.clone();
                vectorized_fused(Gemm { m, n, k, a: a_in, layout, b: &b, c: &mut c });
                assert_eq!(c, fused, "fused, FMA build, {layout:?}, {m}x{n}x{k}");
            }
            // Sums started from zero and from a row (a bias) instead of C:
            // the same bits as C holding those values first.
            let row: Vec<f32> = (0..n).map(|_| next()).collect();
            for (start, first) in [(Start::Zero, vec![0.0; n]), (Start::Row(&row), row.clone())] {
                let expected = naive_from((m, n, k), &a, &b, first.repeat(m));
                let mut c = vec![f32::NAN; m * n];
                gemm_acc::<f32, false>(m, n, k, &a, ALayout::RowMajor { ld: k }, &b, n, (&mut c, n, start));
                assert_eq!(c, expected, "{start:?}, {m}x{n}x{k}");
                let mut c = vec![f32::NAN; m * n];
                gemm_acc_packed::<f32, false>(
                    m,
                    n,
                    k,
                    &a_t,
                    ALayout::ColMajor { ld: m },
                    &b,
                    n,
                    (&mut c, n, start),
                    &mut pack,
                );
                assert_eq!(c, expected, "packed, {start:?}, {m}x{n}x{k}");
            }
            if m * n * k > 1000 {
                assert_ne!(fused, expected, "{m}x{n}x{k}: fused rounding differs somewhere");
            }
        }
    }
}
