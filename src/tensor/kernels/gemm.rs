//! Strided dense matrix products (`C = A·B` and `C += A·B`) for `f32` and `f64`.
//!
//! This is an internal kernel for tensor ops: every operand is a base slice plus a
//! row stride and a column stride (in elements), so transposed or otherwise strided
//! views are multiplied without copying. Element `(i, j)` of a matrix with strides
//! `(rs, cs)` lives at `slice[i * rs + j * cs]`.
//!
//! The heavy lifting is done by the [`gemm`] crate, which picks its AVX-512 micro-kernel
//! at run time when the CPU has `avx512f` (see [`simd_path`]).

use gemm::Parallelism;
use std::mem::MaybeUninit;

mod plan;
pub use plan::{GRAIN, MIN_TASK_WORK, SplitPlan, split_plan};

/// How many threads a product may use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Threads {
    /// Run on the calling thread when `m·n·k` is below [`PARALLEL_THRESHOLD`]; above
    /// it, split `C` into up to one block per thread of kiln's pool
    /// ([`crate::tensor::parallel`]), each block single-threaded, as [`split_plan`]
    /// says. Each thread then packs only its own part of `B`, which is what makes
    /// transposed operands (as in backward passes) scale, and the caller computes a
    /// block itself instead of waiting for a wake-up.
    #[default]
    Auto,
    /// As [`Threads::Auto`] with this many blocks (`0` means the pool size).
    Split(usize),
    /// Always run on the calling thread.
    Single,
    /// Use the `gemm` crate's own threading on up to this many rayon threads
    /// (`0` means the pool size). The crate still runs tiny products on one thread.
    Rayon(usize),
}

/// Products with `m·n·k` below this (multiply-adds) run single-threaded under
/// [`Threads::Auto`].
///
/// Measured on the 2-core AMD EPYC dev box with AVX-512 (`examples/gemm_gflops.rs`):
/// `64×128×10` (82 K multiply-adds) is 3–8× slower when split, as the fork-join costs
/// more than the ~2.5 µs product, while `64×256×128` (2.1 M, ~18 µs on one thread)
/// gains ~1.2× from a 2-way row split. The cut sits between, at 1 M (~9 µs).
pub const PARALLEL_THRESHOLD: usize = 1 << 20;

/// Which SIMD micro-kernel family the `gemm` crate dispatches to on this CPU.
pub fn simd_path() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512f";
        }
        if std::arch::is_x86_feature_detected!("fma") {
            return "fma (avx2)";
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        return "neon";
    }
    #[allow(unreachable_code)]
    "scalar"
}

/// Computes `C = A·B` (or `C += A·B` when `accumulate`) for strided `f32` matrices.
///
/// `A` is `m×k` with strides `(a_rs, a_cs)`, `B` is `k×n` with `(b_rs, b_cs)` and `C`
/// is `m×n` with `(c_rs, c_cs)`. With `k == 0`, `C` is zeroed (or left as is when
/// accumulating). When not accumulating, the previous contents of `C` are never read.
///
/// # Panics
/// Panics (with a message naming `matmul` and the dims) if a slice is too short for
/// its shape and strides, a stride would index before the slice start, or `C`'s
/// strides make two of its elements overlap.
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    a_rs: isize,
    a_cs: isize,
    b: &[f32],
    b_rs: isize,
    b_cs: isize,
    c: &mut [f32],
    c_rs: isize,
    c_cs: isize,
    accumulate: bool,
    threads: Threads,
) {
    gemm_checked(
        m,
        n,
        k,
        a,
        [a_rs, a_cs],
        b,
        [b_rs, b_cs],
        as_uninit(c),
        [c_rs, c_cs],
        accumulate,
        threads,
    )
}

/// Computes `C = A·B` (or `C += A·B` when `accumulate`) for strided `f64` matrices.
///
/// Same layout rules as [`gemm_f32`].
///
/// # Panics
/// Same as [`gemm_f32`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_f64(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    a_rs: isize,
    a_cs: isize,
    b: &[f64],
    b_rs: isize,
    b_cs: isize,
    c: &mut [f64],
    c_rs: isize,
    c_cs: isize,
    accumulate: bool,
    threads: Threads,
) {
    gemm_checked(
        m,
        n,
        k,
        a,
        [a_rs, a_cs],
        b,
        [b_rs, b_cs],
        as_uninit(c),
        [c_rs, c_cs],
        accumulate,
        threads,
    )
}

/// [`gemm_f32`] (`C = A·B`, never accumulating) into possibly uninitialised memory:
/// every element of `C` is written, so a fresh output needs no zeroing first.
///
/// # Panics
/// As [`gemm_f32`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_f32_uninit(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    [a_rs, a_cs]: [isize; 2],
    b: &[f32],
    [b_rs, b_cs]: [isize; 2],
    c: &mut [MaybeUninit<f32>],
    [c_rs, c_cs]: [isize; 2],
    threads: Threads,
) {
    let (a_s, b_s, c_s) = ([a_rs, a_cs], [b_rs, b_cs], [c_rs, c_cs]);
    gemm_checked(m, n, k, a, a_s, b, b_s, c, c_s, false, threads)
}

/// [`gemm_f32_uninit`] for `f64`.
///
/// # Panics
/// As [`gemm_f32`].
#[allow(clippy::too_many_arguments)]
pub fn gemm_f64_uninit(
    m: usize,
    n: usize,
    k: usize,
    a: &[f64],
    [a_rs, a_cs]: [isize; 2],
    b: &[f64],
    [b_rs, b_cs]: [isize; 2],
    c: &mut [MaybeUninit<f64>],
    [c_rs, c_cs]: [isize; 2],
    threads: Threads,
) {
    let (a_s, b_s, c_s) = ([a_rs, a_cs], [b_rs, b_cs], [c_rs, c_cs]);
    gemm_checked(m, n, k, a, a_s, b, b_s, c, c_s, false, threads)
}

/// `c` as possibly uninitialised memory, for the shared body.
fn as_uninit<T>(c: &mut [T]) -> &mut [MaybeUninit<T>] {
    // SAFETY: `MaybeUninit<T>` has `T`'s layout, and the kernels only ever store
    // initialised values into `C`, so `c` stays initialised when the borrow ends.
    unsafe { std::slice::from_raw_parts_mut(c.as_mut_ptr().cast::<MaybeUninit<T>>(), c.len()) }
}

/// The checked body shared by [`gemm_f32`] and [`gemm_f64`]; `c` must be initialised
/// when `accumulate` (the safe wrappers pass initialised slices; the `_uninit` ones
/// never accumulate).
#[allow(clippy::too_many_arguments)]
fn gemm_checked<T: Scalar>(
    m: usize,
    n: usize,
    k: usize,
    a: &[T],
    [a_rs, a_cs]: [isize; 2],
    b: &[T],
    [b_rs, b_cs]: [isize; 2],
    c: &mut [MaybeUninit<T>],
    [c_rs, c_cs]: [isize; 2],
    accumulate: bool,
    threads: Threads,
) {
    let dims = Dims { m, n, k };
    dims.check(
        a.len(),
        a_rs,
        a_cs,
        b.len(),
        b_rs,
        b_cs,
        c.len(),
        c_rs,
        c_cs,
    );
    if b_rs == 1 && b_cs >= k as isize && k >= TRANSPOSE_B_MIN_K && n >= 16 && m >= 8 {
        // A column-major `B` (a linear layer's `x·Wᵀ`) with a long `k`: the crate runs
        // such products at ~32 GFLOP/s against ~190 for the same product with a
        // row-major `B` (2 threads, AVX-512, 64x9216x128: the MNIST CNN's fc1), so `B`
        // is transposed first; the copy costs `k·n` moves against `m·k·n` multiply-adds.
        let mut bt = crate::tensor::alloc::vec_with_capacity::<T>(k * n);
        let parts = crate::tensor::parallel::num_threads().min(k / 256).max(1);
        let chunk = k.div_ceil(parts);
        let spare = &mut bt.spare_capacity_mut()[..k * n];
        crate::tensor::parallel::for_each_chunk_mut(spare, chunk * n, |i, dst| {
            let p0 = i * chunk;
            let cols = dst.len() / n;
            super::conv_gemm::transpose_uninit(&b[p0..], n, cols, b_cs as usize, dst);
        });
        // SAFETY: the chunks cover `bt[..k * n]` and each was written in full.
        unsafe { bt.set_len(k * n) };
        let bs = [n as isize, 1];
        gemm_checked(
            m,
            n,
            k,
            a,
            [a_rs, a_cs],
            &bt,
            bs,
            c,
            [c_rs, c_cs],
            accumulate,
            threads,
        );
        crate::tensor::alloc::recycle(bt);
        return;
    }
    let strides = [a_rs, a_cs, b_rs, b_cs, c_rs, c_cs];
    // SAFETY: `check` proved every addressed element lies inside its slice and that
    // `C`'s elements are distinct; `c` is borrowed mutably so it aliases neither input.
    unsafe {
        run(
            dims,
            a.as_ptr(),
            b.as_ptr(),
            c.as_mut_ptr().cast::<T>(),
            strides,
            accumulate,
            threads,
        )
    }
}

/// Element types the kernel supports.
/// The shortest `k` from which [`gemm_checked`] transposes a column-major `B` first
/// (64xKx128 measured 32-34 GFLOP/s in the crate from k = 1024 up, 142 at k = 784).
const TRANSPOSE_B_MIN_K: usize = 1024;

trait Scalar: Copy + Send + Sync + 'static {
    const ONE: Self;
}
impl Scalar for f32 {
    const ONE: Self = 1.0;
}
impl Scalar for f64 {
    const ONE: Self = 1.0;
}

#[derive(Clone, Copy)]
struct Dims {
    m: usize,
    n: usize,
    k: usize,
}

impl Dims {
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        a_len: usize,
        a_rs: isize,
        a_cs: isize,
        b_len: usize,
        b_rs: isize,
        b_cs: isize,
        c_len: usize,
        c_rs: isize,
        c_cs: isize,
    ) {
        let Dims { m, n, k } = *self;
        self.fits("A", a_len, m, k, a_rs, a_cs);
        self.fits("B", b_len, k, n, b_rs, b_cs);
        self.fits("C", c_len, m, n, c_rs, c_cs);
        // Sufficient (not necessary) for distinct elements: ordered by |stride|, the
        // inner stride is non-zero and the outer one steps past the whole inner axis.
        let (mut inner, mut outer) = ((m, c_rs.unsigned_abs()), (n, c_cs.unsigned_abs()));
        if inner.0 <= 1 || (outer.0 > 1 && outer.1 < inner.1) {
            std::mem::swap(&mut inner, &mut outer);
        }
        let inner_ok = inner.0 <= 1 || inner.1 >= 1;
        let outer_ok = outer.0 <= 1 || outer.1 > (inner.0 - 1) * inner.1;
        assert!(
            inner_ok && outer_ok,
            "matmul: output C ({m}x{n}) strides ({c_rs}, {c_cs}) make elements overlap"
        );
    }

    /// Panics unless every element of a `rows×cols` matrix is inside `0..len`.
    fn fits(&self, name: &str, len: usize, rows: usize, cols: usize, rs: isize, cs: isize) {
        let Dims { m, n, k } = *self;
        if rows == 0 || cols == 0 {
            return;
        }
        let span = |d: usize, s: isize| (d as i128 - 1) * s as i128;
        let (lo, hi) = [span(rows, rs), span(cols, cs)]
            .iter()
            .fold((0i128, 0i128), |(lo, hi), &o| {
                (lo + o.min(0), hi + o.max(0))
            });
        assert!(
            lo >= 0 && hi < len as i128,
            "matmul (m={m}, n={n}, k={k}): {name} is {rows}x{cols} with strides ({rs}, {cs}), \
             needing indices {lo}..={hi}, but its slice has length {len}"
        );
    }
}

/// How one product is spread over threads.
#[derive(Clone, Copy, Debug)]
enum Plan {
    /// Call the `gemm` crate with this parallelism.
    Gemm(Parallelism),
    /// Cut `C` into blocks, each computed single-threaded on kiln's pool.
    Split(SplitPlan),
}

/// Chooses a [`Plan`] (see [`Threads::Auto`] for the rules and why).
fn plan(dims: Dims, a_row_stride: isize, threads: Threads) -> Plan {
    let Dims { m, n, k } = dims;
    let t = match threads {
        Threads::Single => return Plan::Gemm(Parallelism::None),
        Threads::Rayon(t) => return Plan::Gemm(Parallelism::Rayon(t)),
        Threads::Auto | Threads::Split(0) => crate::tensor::parallel::num_threads(),
        Threads::Split(t) => t,
    };
    match split_plan(m, n, k, a_row_stride == 1 && k > 1, t) {
        p if p.tasks < 2 => Plan::Gemm(Parallelism::None),
        p => Plan::Split(p),
    }
}

/// Raw operand pointers that may cross threads: the blocks each thread writes are
/// disjoint and the inputs are only read.
#[derive(Clone, Copy)]
struct Operands<T>(*const T, *const T, *mut T);
// SAFETY: see the type's doc; `run`'s contract covers validity.
unsafe impl<T> Send for Operands<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for Operands<T> {}

impl<T> Operands<T> {
    /// Moves the three pointers by the given element offsets.
    ///
    /// # Safety
    /// The results must stay inside their allocations.
    unsafe fn offset(self, a: isize, b: isize, c: isize) -> Self {
        // SAFETY: forwarded from the caller.
        unsafe { Operands(self.0.offset(a), self.1.offset(b), self.2.offset(c)) }
    }
}

/// Computes the product, splitting it over kiln's threads as [`plan`] says.
///
/// # Safety
/// Every element addressed by `dims` and `strides` must be in bounds of its pointer's
/// allocation, `c`'s elements must be distinct and not alias `a` or `b`.
unsafe fn run<T: Scalar>(
    dims: Dims,
    a: *const T,
    b: *const T,
    c: *mut T,
    strides: [isize; 6],
    accumulate: bool,
    threads: Threads,
) {
    let [a_rs, _, _, b_cs, c_rs, c_cs] = strides;
    let ops = Operands(a, b, c);
    let split = match plan(dims, a_rs, threads) {
        // SAFETY: forwarded from the caller.
        Plan::Gemm(par) => return unsafe { call(dims, ops, strides, accumulate, par) },
        Plan::Split(s) => s,
    };
    crate::tensor::parallel::run_tasks(split.tasks, &|i| {
        let (rows, cols) = split.block(i);
        if rows.is_empty() || cols.is_empty() {
            return;
        }
        let d = Dims {
            m: rows.len(),
            n: cols.len(),
            k: dims.k,
        };
        let (r0, c0) = (rows.start as isize, cols.start as isize);
        // SAFETY: block `i` is the sub-matrix `rows × cols` of C (with the matching rows
        // of A and columns of B); blocks tile C, so their elements are disjoint subsets
        // of the caller's.
        unsafe {
            let ops = ops.offset(r0 * a_rs, c0 * b_cs, r0 * c_rs + c0 * c_cs);
            call(d, ops, strides, accumulate, Parallelism::None);
        }
    });
}

/// Calls the `gemm` crate.
///
/// # Safety
/// As for [`run`].
unsafe fn call<T: Scalar>(
    dims: Dims,
    Operands(a, b, c): Operands<T>,
    strides: [isize; 6],
    accumulate: bool,
    parallelism: Parallelism,
) {
    let Dims { m, n, k } = dims;
    let [a_rs, a_cs, b_rs, b_cs, c_rs, c_cs] = strides;
    // gemm computes dst := alpha·dst + beta·lhs·rhs and takes column stride first.
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c,
            c_cs,
            c_rs,
            accumulate,
            a,
            a_cs,
            a_rs,
            b,
            b_cs,
            b_rs,
            T::ONE,
            T::ONE,
            false,
            false,
            false,
            parallelism,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small deterministic generator (xorshift64*) giving values in [-1, 1).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            let x = self.0.wrapping_mul(0x2545_f491_4f6c_dd1d);
            (x >> 11) as f64 / (1u64 << 52) as f64 - 1.0
        }
        fn below(&mut self, n: usize) -> usize {
            ((self.next() + 1.0) * 0.5 * n as f64) as usize % n
        }
        fn vec(&mut self, len: usize) -> Vec<f64> {
            (0..len).map(|_| self.next()).collect()
        }
    }

    /// Strides for a `rows×cols` matrix: row-major, or column-major ("transposed").
    fn strides(rows: usize, cols: usize, col_major: bool) -> (isize, isize) {
        if col_major {
            (1, rows.max(1) as isize)
        } else {
            (cols.max(1) as isize, 1)
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn naive(
        m: usize,
        n: usize,
        k: usize,
        a: &[f64],
        (ars, acs): (isize, isize),
        b: &[f64],
        (brs, bcs): (isize, isize),
        c: &mut [f64],
        (crs, ccs): (isize, isize),
        acc: bool,
    ) {
        for i in 0..m {
            for j in 0..n {
                let mut s = 0.0;
                for p in 0..k {
                    s += a[i * ars as usize + p * acs as usize]
                        * b[p * brs as usize + j * bcs as usize];
                }
                let ci = &mut c[i * crs as usize + j * ccs as usize];
                *ci = if acc { *ci + s } else { s };
            }
        }
    }

    /// Runs one random case in both precisions against the naive loop.
    fn case(rng: &mut Rng, m: usize, n: usize, k: usize, threads: Threads) {
        let (ta, tb, tc) = (rng.below(2) == 1, rng.below(2) == 1, rng.below(2) == 1);
        let acc = rng.below(2) == 1;
        let (sa, sb, sc) = (strides(m, k, ta), strides(k, n, tb), strides(m, n, tc));
        let a = rng.vec(m * k);
        let b = rng.vec(k * n);
        let c0 = if acc {
            rng.vec(m * n)
        } else {
            vec![f64::NAN; m * n]
        };
        let mut want = c0.clone();
        naive(m, n, k, &a, sa, &b, sb, &mut want, sc, acc);

        let mut c64 = c0.clone();
        gemm_f64(
            m, n, k, &a, sa.0, sa.1, &b, sb.0, sb.1, &mut c64, sc.0, sc.1, acc, threads,
        );
        let f = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let mut c32 = f(&c0);
        gemm_f32(
            m,
            n,
            k,
            &f(&a),
            sa.0,
            sa.1,
            &f(&b),
            sb.0,
            sb.1,
            &mut c32,
            sc.0,
            sc.1,
            acc,
            threads,
        );

        let tol = 1e-5 * (k as f64 + 1.0);
        for idx in 0..m * n {
            let ctx = format!("m={m} n={n} k={k} t=({ta},{tb},{tc}) acc={acc} at {idx}");
            assert!(
                (c64[idx] - want[idx]).abs() <= 1e-12 * (k as f64 + 1.0),
                "f64 {ctx}"
            );
            assert!((c32[idx] as f64 - want[idx]).abs() <= tol, "f32 {ctx}");
        }
    }

    #[test]
    fn random_shapes_match_naive() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..300 {
            let (m, n, k) = (1 + rng.below(40), 1 + rng.below(40), 1 + rng.below(70));
            let threads = [Threads::Auto, Threads::Single, Threads::Rayon(2)][rng.below(3)];
            case(&mut rng, m, n, k, threads);
        }
    }

    /// Long products with a column-major `B` take the transpose-first path (both
    /// precisions, both thread plans, accumulate or not: `case` draws the layouts, so
    /// many draws of each shape).
    #[test]
    fn long_k_shapes_match_naive() {
        let mut rng = Rng(7);
        for &(m, n, k) in &[(8, 16, TRANSPOSE_B_MIN_K), (9, 33, 1300), (20, 17, 2100)] {
            for threads in [
                Threads::Auto,
                Threads::Single,
                Threads::Auto,
                Threads::Single,
            ] {
                case(&mut rng, m, n, k, threads);
            }
        }
    }

    #[test]
    fn edge_shapes_match_naive() {
        let mut rng = Rng(42);
        for &(m, n, k) in &[
            (1, 1, 1),
            (1, 17, 9),
            (17, 1, 9),
            (1, 1, 300),
            (5, 7, 0),
            (1, 9, 0),
            (0, 4, 3),
            (3, 0, 3),
            (0, 0, 0),
            (2, 3, 1),
            (4, 5, 2),
        ] {
            for _ in 0..8 {
                case(&mut rng, m, n, k, Threads::Auto);
            }
        }
    }

    #[test]
    fn mnist_shapes_multithreaded_match_naive() {
        let mut rng = Rng(7);
        for &(m, n, k) in &[
            (64, 256, 784),
            (784, 256, 64),
            (64, 784, 256),
            (64, 10, 128),
            (128, 10, 64),
        ] {
            for threads in [Threads::Auto, Threads::Single, Threads::Rayon(0)] {
                case(&mut rng, m, n, k, threads);
            }
        }
    }

    #[test]
    fn split_plans_match_naive_on_odd_pools() {
        // 3 blocks are uneven; shapes hit the row, column and single-thread plans.
        let mut rng = Rng(11);
        for t in [2, 3] {
            for &(m, n, k) in &[
                (64, 128, 256),
                (256, 128, 64),
                (64, 400, 130),
                (70, 390, 90),
                (33, 33, 1100),
            ] {
                for _ in 0..4 {
                    case(&mut rng, m, n, k, Threads::Split(t));
                }
            }
        }
    }

    #[test]
    fn two_thread_plans_keep_their_measured_shape() {
        let p = |m, n, k, at| {
            let p = split_plan(m, n, k, at, 2);
            (p.tasks, p.stripes)
        };
        assert_eq!(p(64, 256, 784, false), (2, 1), "columns");
        assert_eq!(p(64, 128, 256, false), (2, 2), "rows");
        assert_eq!(p(64, 10, 128, false), (1, 1), "one thread");
        assert_eq!(p(64, 512, 784, false), (2, 1), "columns");
        assert_eq!(p(256, 784, 64, true), (2, 2), "weight gradient by rows");
        // The private plan agrees, reading a transposed A off its unit row stride.
        let weight_grad = plan(
            Dims {
                m: 256,
                n: 784,
                k: 64,
            },
            1,
            Threads::Split(2),
        );
        assert!(matches!(weight_grad, Plan::Split(s) if s.stripes == 2));
        assert!(matches!(
            plan(
                Dims {
                    m: 64,
                    n: 10,
                    k: 128
                },
                128,
                Threads::Split(2)
            ),
            Plan::Gemm(Parallelism::None)
        ));
    }

    #[test]
    fn many_thread_splits_match_naive() {
        // Grids with uneven stripes (7, 13 tasks) and tall or wide C.
        let mut rng = Rng(13);
        for t in [4, 7, 13] {
            for &(m, n, k) in &[(64, 256, 100), (200, 90, 80), (40, 600, 70), (97, 97, 150)] {
                case(&mut rng, m, n, k, Threads::Split(t));
            }
        }
    }

    #[test]
    fn k_zero_zeroes_or_keeps_c() {
        let mut c = vec![f32::NAN; 6];
        gemm_f32(
            2,
            3,
            0,
            &[],
            0,
            1,
            &[],
            3,
            1,
            &mut c,
            3,
            1,
            false,
            Threads::Auto,
        );
        assert_eq!(c, vec![0.0; 6]);
        let mut c = vec![2.5f64; 6];
        gemm_f64(
            2,
            3,
            0,
            &[],
            0,
            1,
            &[],
            3,
            1,
            &mut c,
            3,
            1,
            true,
            Threads::Auto,
        );
        assert_eq!(c, vec![2.5; 6]);
    }

    #[test]
    fn padded_strides_leave_gaps_untouched() {
        // C is 2x2 inside a 2x3 buffer (row stride 3); the padding column must survive.
        let a = [1.0f32, 2.0, 3.0, 4.0];
        let b = [1.0f32, 0.0, 0.0, 1.0];
        let mut c = [9.0f32; 6];
        gemm_f32(
            2,
            2,
            2,
            &a,
            2,
            1,
            &b,
            2,
            1,
            &mut c,
            3,
            1,
            false,
            Threads::Single,
        );
        assert_eq!(c, [1.0, 2.0, 9.0, 3.0, 4.0, 9.0]);
    }

    #[test]
    #[should_panic(expected = "matmul (m=2, n=3, k=4): A is 2x4")]
    fn short_a_panics() {
        let mut c = [0.0f32; 6];
        gemm_f32(
            2,
            3,
            4,
            &[0.0; 7],
            4,
            1,
            &[0.0; 12],
            3,
            1,
            &mut c,
            3,
            1,
            false,
            Threads::Auto,
        );
    }

    #[test]
    #[should_panic(expected = "matmul (m=2, n=3, k=4): C is 2x3")]
    fn short_c_panics() {
        let mut c = [0.0f64; 5];
        gemm_f64(
            2,
            3,
            4,
            &[0.0; 8],
            4,
            1,
            &[0.0; 12],
            3,
            1,
            &mut c,
            3,
            1,
            false,
            Threads::Auto,
        );
    }

    #[test]
    #[should_panic(expected = "B is 4x3 with strides (-3, 1)")]
    fn negative_reach_panics() {
        let mut c = [0.0f32; 6];
        gemm_f32(
            2,
            3,
            4,
            &[0.0; 8],
            4,
            1,
            &[0.0; 12],
            -3,
            1,
            &mut c,
            3,
            1,
            false,
            Threads::Auto,
        );
    }

    #[test]
    #[should_panic(expected = "matmul: output C (2x3) strides (1, 1) make elements overlap")]
    fn overlapping_c_panics() {
        let mut c = [0.0f32; 6];
        gemm_f32(
            2,
            3,
            4,
            &[0.0; 8],
            4,
            1,
            &[0.0; 12],
            3,
            1,
            &mut c,
            1,
            1,
            false,
            Threads::Auto,
        );
    }

    #[test]
    fn broadcast_inputs_are_allowed() {
        // A with zero strides (every element is a[0]) is a legal read-only view.
        let mut c = [0.0f32; 4];
        gemm_f32(
            2,
            2,
            3,
            &[2.0],
            0,
            0,
            &[1.0; 6],
            2,
            1,
            &mut c,
            2,
            1,
            false,
            Threads::Auto,
        );
        assert_eq!(c, [6.0; 4]);
    }

    #[test]
    fn reports_a_simd_path() {
        let p = simd_path();
        assert!(!p.is_empty());
        eprintln!("gemm SIMD path: {p}");
    }
}
