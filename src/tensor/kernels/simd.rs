//! Run-time choice of instruction set for the hot loops: AVX-512, AVX2+FMA or baseline.
//!
//! kiln is usually built as a dependency with default flags, that is for baseline
//! x86-64 (SSE2, no FMA: `mul_add` is a libm call). So the kernels compile their loops
//! several times and pick one per call: a kernel passes its loop as a closure to
//! [`dispatch`], which calls it from inside a `#[target_feature]` function. The loop is
//! monomorphised there and inlined into it, so LLVM vectorises it for that level, and
//! the chosen level is read from one relaxed atomic (detected once with
//! `is_x86_feature_detected!`).
//!
//! The inlining must be forced: LLVM inlines a closure by its own cost model, and a
//! closure holding a whole vectorised loop is over its budget, so it stays out of line
//! and is compiled for baseline SSE2 whatever level calls it (perf showed Adam's step,
//! the elementwise maps and the dropout masks running 4-wide SSE on an AVX-512 CPU).
//! So every closure passed to [`dispatch`] carries `#[inline(always)]`, and so does
//! every closure or function it calls with the loop inside (the unit test
//! `every_dispatched_closure_is_forced_inline` checks the first rule over the source).
//!
//! Why std and not a crate: `pulp` (already in the tree through `gemm`) and
//! `multiversion` both do this, but kiln's loops are ordinary iterator code that LLVM
//! vectorises by itself; all they need is the `#[target_feature]` wrapper, which is a
//! dozen lines of std. A crate would add its own kernel trait (pulp's `WithSimd`) or a
//! proc-macro per function for no more speed.
//!
//! Results do not depend on the level: every loop's order of operations is fixed in the
//! source (explicit accumulator lanes in sums, no reassociation, `mul_add` is always one
//! rounding), only the instructions change. The unit tests check this bit for bit.
//!
//! `KILN_CPU_CAPABILITY=default|avx2|avx512` (PyTorch's `ATEN_CPU_CAPABILITY`) or
//! [`set_capability`] caps the level, for comparisons; the CPU still limits it.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

/// An instruction-set level kernels can be compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    /// Whatever the crate was compiled for (baseline x86-64: SSE2).
    Default,
    /// x86-64-v3: AVX, AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE.
    Avx2,
    /// x86-64-v4: the AVX2 set plus AVX-512 F, BW, CD, DQ and VL.
    Avx512,
}

impl Capability {
    /// Every level, lowest first.
    pub const ALL: [Capability; 3] = [Capability::Default, Capability::Avx2, Capability::Avx512];

    /// The name `KILN_CPU_CAPABILITY` takes (`default`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::Default => "default",
            Capability::Avx2 => "avx2",
            Capability::Avx512 => "avx512",
        }
    }

    fn from_u8(v: u8) -> Capability {
        match v {
            2 => Capability::Avx512,
            1 => Capability::Avx2,
            _ => Capability::Default,
        }
    }
}

/// The best level this CPU runs (detected once).
pub fn detected() -> Capability {
    static DETECTED: AtomicU8 = AtomicU8::new(u8::MAX);
    let v = DETECTED.load(Relaxed);
    if v != u8::MAX {
        return Capability::from_u8(v);
    }
    let c = detect();
    DETECTED.store(c as u8, Relaxed);
    c
}

#[cfg(target_arch = "x86_64")]
fn detect() -> Capability {
    use std::arch::is_x86_feature_detected as has;
    let v3 = has!("avx")
        && has!("avx2")
        && has!("fma")
        && has!("bmi1")
        && has!("bmi2")
        && has!("f16c")
        && has!("lzcnt")
        && has!("movbe");
    let v4 = v3
        && has!("avx512f")
        && has!("avx512bw")
        && has!("avx512cd")
        && has!("avx512dq")
        && has!("avx512vl");
    if v4 {
        Capability::Avx512
    } else if v3 {
        Capability::Avx2
    } else {
        Capability::Default
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn detect() -> Capability {
    Capability::Default
}

/// The level kernels use now: the detected one, capped by [`set_capability`] or
/// `KILN_CPU_CAPABILITY`.
pub fn capability() -> Capability {
    active()
}

static ACTIVE_SLOT: AtomicU8 = AtomicU8::new(u8::MAX);

fn store_active(cap: Capability) {
    ACTIVE_SLOT.store(cap.min(detected()) as u8, Relaxed);
}

/// Caps the level kernels use (the CPU's own level still limits it); returns the level
/// now in effect. For comparisons and tests: results are the same at every level.
pub fn set_capability(cap: Capability) -> Capability {
    store_active(cap);
    active()
}

#[inline(always)]
fn active() -> Capability {
    let v = ACTIVE_SLOT.load(Relaxed);
    if v == u8::MAX {
        capability_init()
    } else {
        Capability::from_u8(v)
    }
}

#[cold]
fn capability_init() -> Capability {
    let cap = std::env::var("KILN_CPU_CAPABILITY")
        .ok()
        .and_then(|s| Capability::ALL.into_iter().find(|c| c.name() == s.trim()))
        .unwrap_or(Capability::Avx512);
    store_active(cap);
    Capability::from_u8(ACTIVE_SLOT.load(Relaxed))
}

/// Runs `f` compiled for the best enabled level. `f` should hold the whole hot loop (it
/// is inlined into the level's `#[target_feature]` function); call this once per chunk,
/// not per element.
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    match active() {
        // SAFETY: `active()` never exceeds `detected()`, so the CPU has these features.
        Capability::Avx512 => unsafe { x86::v4(f) },
        // SAFETY: as above.
        Capability::Avx2 => unsafe { x86::v3(f) },
        Capability::Default => f(),
    }
    #[cfg(not(target_arch = "x86_64"))]
    f()
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    /// `f` compiled for x86-64-v4.
    #[target_feature(
        enable = "avx,avx2,fma,bmi1,bmi2,f16c,lzcnt,movbe,avx512f,avx512bw,avx512cd,avx512dq,avx512vl"
    )]
    pub(super) unsafe fn v4<R>(f: impl FnOnce() -> R) -> R {
        f()
    }

    /// `f` compiled for x86-64-v3.
    #[target_feature(enable = "avx,avx2,fma,bmi1,bmi2,f16c,lzcnt,movbe")]
    pub(super) unsafe fn v3<R>(f: impl FnOnce() -> R) -> R {
        f()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::tensor::random::Generator;
    use crate::tensor::{DType, Tensor};
    use parking_lot::Mutex;

    /// Serialises the tests that change the level (results must not depend on it, so
    /// other tests running meanwhile are unaffected either way).
    pub(crate) static LEVEL_LOCK: Mutex<()> = Mutex::new(());

    /// `f()` at every level the CPU has, each compared bit for bit with the baseline.
    pub(crate) fn same_at_every_level<R: PartialEq + std::fmt::Debug>(
        what: &str,
        f: impl Fn() -> R,
    ) {
        let _g = LEVEL_LOCK.lock();
        set_capability(Capability::Default);
        let base = f();
        for cap in Capability::ALL {
            if set_capability(cap) != cap {
                continue;
            }
            let got = f();
            assert!(got == base, "{what}: {} differs from baseline", cap.name());
        }
        set_capability(Capability::Avx512);
    }

    #[test]
    fn capping_is_limited_by_the_cpu() {
        let _g = LEVEL_LOCK.lock();
        assert_eq!(set_capability(Capability::Default), Capability::Default);
        assert_eq!(set_capability(Capability::Avx512), detected());
        assert_eq!(capability(), detected());
    }

    /// Lengths around vector widths and the parallel threshold, so every tail is hit.
    const LENS: [usize; 9] = [
        0,
        1,
        7,
        15,
        17,
        33,
        1001,
        super::super::PAR_THRESHOLD + 13,
        100_003,
    ];

    fn bits(t: &Tensor) -> Vec<u64> {
        t.to_vec::<f64>().iter().map(|v| v.to_bits()).collect()
    }

    fn inputs(n: usize, dtype: DType) -> (Tensor, Tensor) {
        let mut g = Generator::new(n as u64);
        let a = Tensor::randn_with(&[n], dtype, &mut g);
        let b = Tensor::randn_with(&[n], dtype, &mut g);
        (a, b)
    }

    #[test]
    fn maps_and_zips_are_the_same_at_every_level() {
        for dtype in [DType::F32, DType::F64] {
            for n in LENS {
                let (a, b) = inputs(n, dtype);
                same_at_every_level("mul", || bits(&(&a * &b)));
                same_at_every_level("div+sub", || bits(&(&(&a / &b) - &a)));
                same_at_every_level("exp", || bits(&a.exp()));
                same_at_every_level("scalar", || bits(&(&a * 3.5)));
                same_at_every_level("relu", || bits(&a.relu()));
            }
        }
        // Broadcast rows (a bias add) with odd inner lengths.
        for inner in [1, 9, 31, 257] {
            let (a, _) = inputs(123 * inner, DType::F32);
            let a = a.reshape(&[123, inner]);
            let (row, _) = inputs(inner, DType::F32);
            same_at_every_level("bias add", || bits(&(&a + &row)));
            let col = a.narrow(1, 0, 1);
            same_at_every_level("column broadcast", || bits(&(&a * &col)));
        }
    }

    #[test]
    fn in_place_updates_and_copies_are_the_same_at_every_level() {
        for n in LENS {
            let (a, b) = inputs(n, DType::F32);
            same_at_every_level("mul_", || {
                let d = a.zeros_like();
                d.copy_(&a);
                d.mul_(&b);
                d.mul_scalar_(0.75);
                d.add_(&a);
                bits(&d)
            });
            same_at_every_level("copy_", || {
                let d = b.zeros_like();
                d.copy_(&a);
                bits(&d)
            });
            same_at_every_level("cast", || {
                let i = (&a * 100.0).to_dtype(DType::I64);
                (bits(&a.to_dtype(DType::F64)), bits(&i.to_dtype(DType::F32)))
            });
        }
    }

    #[test]
    fn sums_and_reductions_are_the_same_at_every_level() {
        for dtype in [DType::F32, DType::F64] {
            for n in LENS {
                let (a, _) = inputs(n, dtype);
                same_at_every_level("sum", || bits(&a.sum()));
                same_at_every_level("mean", || bits(&a.mean()));
            }
            let (a, _) = inputs(37 * 1001, dtype);
            let a = a.reshape(&[37, 1001]);
            same_at_every_level("sum rows", || bits(&a.sum_dims(&[1], false)));
            same_at_every_level("sum cols", || bits(&a.sum_dims(&[0], false)));
            same_at_every_level("max rows", || bits(&a.max_dim(1, false).0));
        }
    }

    #[test]
    fn fma_is_one_rounding_at_every_level() {
        // 1 + 2^-23 squared minus its rounded square: exact only with a fused mul_add.
        let a = 1.0f32 + f32::EPSILON;
        let p = a * a;
        same_at_every_level("mul_add", || {
            dispatch(|| std::hint::black_box(a).mul_add(a, -p)).to_bits()
        });
        assert_eq!(a.mul_add(a, -p), f32::EPSILON * f32::EPSILON);
    }

    /// The first rule of the module docs, over the kernel sources: `dispatch(` is
    /// followed by `#[inline(always)]` on its closure (a plain closure compiled as
    /// baseline code at every level, silently).
    #[test]
    fn every_dispatched_closure_is_forced_inline() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut stack = vec![dir];
        let mut checked = 0;
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).expect("read src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if path.extension().is_none_or(|e| e != "rs") || path.ends_with("simd.rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).expect("read file");
                let mut rest = text.as_str();
                while let Some(at) = rest.find("dispatch(") {
                    let before = &rest[..at];
                    let after = &rest[at + "dispatch(".len()..];
                    rest = after;
                    // Other macros and functions that end in `dispatch(`.
                    if before.ends_with('_') || before.ends_with("fn ") {
                        continue;
                    }
                    let next = after.trim_start();
                    if next.starts_with("#[inline(always)]") {
                        checked += 1;
                    } else {
                        panic!(
                            "{}: `dispatch(` without `#[inline(always)]` on its closure: {}",
                            path.display(),
                            &next[..next.len().min(60)]
                        );
                    }
                }
            }
        }
        assert!(checked >= 10, "only {checked} dispatch sites found");
    }
}
