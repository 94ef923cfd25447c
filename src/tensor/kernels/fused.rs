//! The fused update loop: one pass over a parameter, its gradient and its state
//! buffers, split across threads only for large parameters.

use crate::float_dispatch;
use crate::tensor::kernels::PAR_THRESHOLD;
use crate::tensor::kernels::simd::dispatch;
use crate::tensor::parallel::run_tasks;
use crate::tensor::storage::Access;
use crate::tensor::{BufferElement, Float, Storage, Tensor};
use parking_lot::Mutex;

/// One parallel work item: parameter, gradient and state chunks.
type Job<'a, T, const K: usize> = (&'a mut [T], &'a [T], [&'a mut [T]; K]);

/// Elements per parallel chunk.
const CHUNK: usize = 1 << 13;

/// An elementwise update over a parameter chunk, its gradient and `K` state chunks.
pub(crate) trait Update<const K: usize>: Sync {
    /// Updates `p` and `s` in place from `g`. Runs inside [`dispatch`], so its loop is
    /// compiled for each SIMD level; implementations should be `#[inline(always)]` so
    /// that the loop lands in the level's code.
    fn apply<T: Float>(&self, p: &mut [T], g: &[T], s: [&mut [T]; K]);
}

/// Runs `u` over the whole of `param` (write-locked), `grad` (read) and `states`
/// (write-locked; each contiguous and shaped like `param`).
pub(crate) fn run<const K: usize, U: Update<K>>(
    u: &U,
    param: &Tensor,
    grad: &Tensor,
    states: [&Tensor; K],
) {
    float_dispatch!("optimizer step", param.dtype(), T => typed::<T, K, U>(u, param, grad, states))
}

fn typed<T: Float + BufferElement, const K: usize, U: Update<K>>(
    u: &U,
    param: &Tensor,
    grad: &Tensor,
    states: [&Tensor; K],
) {
    let range = param
        .layout()
        .contiguous_range()
        .expect("optimizer: parameters must be contiguous tensors");
    // A strided gradient is gathered first, so no lock is held while it is read.
    let g_copy: Option<Vec<T>> = grad
        .layout()
        .contiguous_range()
        .is_none()
        .then(|| grad.to_vec::<T>());
    // All locks at once, in the storage order (see `Storage`'s locking rules).
    let mut wanted = vec![(param.storage(), Access::Write)];
    wanted.extend(states.iter().map(|s| (s.storage(), Access::Write)));
    if g_copy.is_none() {
        wanted.push((grad.storage(), Access::Read));
    }
    let mut guards = Storage::lock_all(&wanted);
    let g_guard = g_copy.is_none().then(|| guards.pop().expect("grad guard"));
    let g: &[T] = match (&g_copy, &g_guard) {
        (Some(v), _) => v,
        (None, Some(gd)) => {
            let r = grad.layout().contiguous_range().expect("contiguous grad");
            &T::slice(gd.buffer()).expect("grad dtype")[r]
        }
        (None, None) => unreachable!(),
    };
    {
        let (pg, sg) = guards.split_first_mut().expect("param guard");
        let p = &mut T::slice_mut(pg.buffer_mut()).expect("param dtype")[range];
        let mut slices: Vec<&mut [T]> = sg
            .iter_mut()
            .map(|gd| T::slice_mut(gd.buffer_mut()).expect("state dtype"))
            .collect();
        for s in &slices {
            assert_eq!(s.len(), p.len(), "optimizer: state buffer size mismatch");
        }
        if p.len() < PAR_THRESHOLD {
            let arr: [&mut [T]; K] = std::array::from_fn(|_| slices.remove(0));
            dispatch(
                #[inline(always)]
                || u.apply(p, g, arr),
            );
            return;
        }
        let mut iters: Vec<_> = slices.into_iter().map(|s| s.chunks_mut(CHUNK)).collect();
        let jobs: Vec<Job<T, K>> = p
            .chunks_mut(CHUNK)
            .zip(g.chunks(CHUNK))
            .map(|(pc, gc)| {
                let sc: [&mut [T]; K] = std::array::from_fn(|k| iters[k].next().expect("chunk"));
                (pc, gc, sc)
            })
            .collect();
        let jobs: Vec<Mutex<Option<Job<T, K>>>> =
            jobs.into_iter().map(|j| Mutex::new(Some(j))).collect();
        run_tasks(jobs.len(), &|i| {
            if let Some((pc, gc, sc)) = jobs[i].lock().take() {
                dispatch(
                    #[inline(always)]
                    || u.apply(pc, gc, sc),
                );
            }
        });
    }
}

/// `torch.lerp(start, end, weight)` with PyTorch's two-sided formula.
#[inline(always)]
pub(crate) fn lerp<T: Float>(start: T, end: T, weight: f64) -> T {
    if weight.abs() < 0.5 {
        start + T::c(weight) * (end - start)
    } else {
        end - (end - start) * T::c(1.0 - weight)
    }
}

#[cfg(test)]
mod tests {
    use crate::optim::{Adam, AdamOptions, Optimizer, SGD, SgdOptions};
    use crate::tensor::kernels::simd::tests::same_at_every_level;
    use crate::tensor::random::Generator;
    use crate::tensor::{DType, Tensor};

    /// Parameters after three steps of `make`'s optimizer on fixed gradients.
    fn steps(n: usize, dtype: DType, make: &dyn Fn(Vec<Tensor>) -> Box<dyn Optimizer>) -> Vec<u64> {
        let mut g = Generator::new(7);
        let p = Tensor::randn_with(&[n], dtype, &mut g).requires_grad_(true);
        let grad = Tensor::randn_with(&[n], dtype, &mut g);
        let mut opt = make(vec![p.shallow_clone()]);
        for _ in 0..3 {
            p.set_grad(Some(grad.shallow_clone()));
            opt.step();
        }
        p.to_vec::<f64>().iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn fused_steps_are_the_same_at_every_level() {
        for dtype in [DType::F32, DType::F64] {
            for n in [1, 17, 1001, crate::tensor::kernels::PAR_THRESHOLD + 13] {
                same_at_every_level("adam", || {
                    steps(n, dtype, &|p| Box::new(Adam::new(p, 1e-2)))
                });
                same_at_every_level("amsgrad", || {
                    steps(n, dtype, &|p| {
                        Box::new(Adam::with_options(
                            p,
                            AdamOptions {
                                amsgrad: true,
                                weight_decay: 0.1,
                                ..Default::default()
                            },
                        ))
                    })
                });
                same_at_every_level("sgd momentum", || {
                    steps(n, dtype, &|p| {
                        Box::new(SGD::with_options(
                            p,
                            SgdOptions {
                                lr: 0.1,
                                momentum: 0.9,
                                nesterov: true,
                                ..Default::default()
                            },
                        ))
                    })
                });
            }
        }
    }
}
