//! The instruction-set rows of `kiln bench` (keys `simd_*`): the same kernels timed at
//! each level this CPU has (`KILN_CPU_CAPABILITY`'s levels, set in turn), so that a
//! kernel whose dispatched copy silently fell back to baseline code shows as a level
//! that is no faster than `default`. kiln-only rows: PyTorch has no such switch per call.

use kiln::Tensor;
use kiln::optim::{Adam, Optimizer};
use kiln::tensor::kernels::simd::{Capability, set_capability};

/// Inserts, for every level the CPU runs, `simd_adam_1m_<level>_ms` (one Adam step over
/// a 1M-element parameter: sqrt and two divisions per element) and
/// `simd_relu_mul_64k_<level>_us` (relu then a product on a 64K-element, cache-resident
/// tensor), then restores the best level.
pub fn rows(out: &mut serde_json::Map<String, serde_json::Value>) {
    let p = Tensor::randn(&[1 << 20]).requires_grad_(true);
    p.set_grad(Some(Tensor::randn(&[1 << 20])));
    let mut opt = Adam::new(vec![p.shallow_clone()], 1e-3);
    let x = Tensor::randn(&[1 << 16]);
    for cap in Capability::ALL {
        if set_capability(cap) != cap {
            continue;
        }
        let t = super::bench::median_secs(20, 3, || opt.step());
        out.insert(format!("simd_adam_1m_{}_ms", cap.name()), (t * 1e3).into());
        let t = super::bench::median_secs(200, 20, || {
            std::hint::black_box(x.relu().mul(&x));
        });
        out.insert(
            format!("simd_relu_mul_64k_{}_us", cap.name()),
            (t * 1e6).into(),
        );
    }
    set_capability(Capability::Avx512);
}
