//! Property tests of the view algebra on random shapes (rank 0-4, dims 0-5): views read
//! the same elements as their contiguous copies and as an index-by-index reference.

use kiln::Tensor;
use proptest::prelude::*;

/// A tensor holding `0, 1, 2, ...` so every element is distinguishable.
fn iota(shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    Tensor::from_vec((0..n).map(|v| v as f64).collect(), shape)
}

/// Every multi-index of `shape`, in row-major order.
fn coords(shape: &[usize]) -> Vec<Vec<usize>> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let mut c = vec![0; shape.len()];
    for _ in 0..n {
        out.push(c.clone());
        for d in (0..shape.len()).rev() {
            c[d] += 1;
            if c[d] < shape[d] {
                break;
            }
            c[d] = 0;
        }
    }
    out
}

/// Row-major flat position of `c` in `shape`.
fn flat(c: &[usize], shape: &[usize]) -> usize {
    c.iter().zip(shape).fold(0, |acc, (&i, &n)| acc * n + i)
}

fn shape_strategy() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(0usize..=5, 0..=4)
}

/// A shape with a permutation of its dims.
fn shape_and_perm() -> impl Strategy<Value = (Vec<usize>, Vec<usize>)> {
    shape_strategy().prop_flat_map(|s| {
        let r = s.len();
        (Just(s), Just((0..r).collect::<Vec<_>>()).prop_shuffle())
    })
}

/// A shape of rank >= 1 with a dim of it.
fn shape_and_dim() -> impl Strategy<Value = (Vec<usize>, usize)> {
    prop::collection::vec(0usize..=5, 1..=4).prop_flat_map(|s| {
        let r = s.len();
        (Just(s), 0..r)
    })
}

fn as_isize(v: &[usize]) -> Vec<isize> {
    v.iter().map(|&d| d as isize).collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn reshape_round_trips(shape in shape_strategy()) {
        let x = iota(&shape);
        let n = x.numel();
        let flat = x.reshape(&[n]);
        prop_assert_eq!(flat.to_vec::<f64>(), x.to_vec::<f64>());
        let rev: Vec<usize> = shape.iter().rev().copied().collect();
        let back = x.reshape(&rev).reshape(&shape);
        prop_assert_eq!(back.shape(), shape.as_slice());
        prop_assert_eq!(back.to_vec::<f64>(), x.to_vec::<f64>());
    }

    #[test]
    fn permute_then_inverse_is_identity((shape, perm) in shape_and_perm()) {
        let x = iota(&shape);
        let p = x.permute(&as_isize(&perm));
        let mut inv = vec![0; perm.len()];
        for (i, &d) in perm.iter().enumerate() {
            inv[d] = i;
        }
        let back = p.permute(&as_isize(&inv));
        prop_assert_eq!(back.shape(), x.shape());
        prop_assert_eq!(back.stride(), x.stride());
        prop_assert_eq!(back.to_vec::<f64>(), x.to_vec::<f64>());
        // The permuted view reads x[c permuted back] at each of its positions.
        let data = x.to_vec::<f64>();
        let expected: Vec<f64> = coords(p.shape())
            .iter()
            .map(|c| {
                let mut src = vec![0; c.len()];
                for (i, &d) in perm.iter().enumerate() {
                    src[d] = c[i];
                }
                data[flat(&src, &shape)]
            })
            .collect();
        prop_assert_eq!(p.to_vec::<f64>(), expected);
        prop_assert_eq!(p.to_vec::<f64>(), p.contiguous().to_vec::<f64>());
    }

    #[test]
    fn transpose_twice_is_identity((shape, d0) in shape_and_dim(), d1 in 0usize..4) {
        let d1 = d1 % shape.len();
        let x = iota(&shape);
        let t = x.transpose(d0 as isize, d1 as isize);
        let mut ts = shape.clone();
        ts.swap(d0, d1);
        prop_assert_eq!(t.shape(), ts.as_slice());
        let back = t.transpose(d1 as isize, d0 as isize);
        prop_assert_eq!(back.shape(), x.shape());
        prop_assert_eq!(back.to_vec::<f64>(), x.to_vec::<f64>());
    }

    #[test]
    fn expand_matches_materialised_copy(
        target in shape_strategy(),
        ones in prop::collection::vec(any::<bool>(), 4),
        lead in 0usize..=4,
    ) {
        // The source drops `lead` leading dims and has size 1 wherever `ones` says.
        let lead = lead.min(target.len());
        let src_shape: Vec<usize> = target[lead..]
            .iter()
            .enumerate()
            .map(|(i, &d)| if ones[i] { 1 } else { d })
            .collect();
        let src = iota(&src_shape);
        let e = src.expand(&target);
        let data = src.to_vec::<f64>();
        let expected: Vec<f64> = coords(&target)
            .iter()
            .map(|c| {
                let sc: Vec<usize> = c[lead..]
                    .iter()
                    .zip(&src_shape)
                    .map(|(&i, &n)| if n == 1 { 0 } else { i })
                    .collect();
                data[flat(&sc, &src_shape)]
            })
            .collect();
        prop_assert_eq!(e.to_vec::<f64>(), expected.clone());
        prop_assert_eq!(e.contiguous().to_vec::<f64>(), expected.clone());
        // Broadcasting in a binary op agrees with the explicit expand.
        let b = src.add(&Tensor::zeros_dtype(&target, kiln::DType::F64));
        prop_assert_eq!(b.to_vec::<f64>(), expected);
    }

    #[test]
    fn narrow_and_slice_views_equal_copies(
        (shape, d) in shape_and_dim(),
        start in -7isize..7,
        end in -7isize..7,
        step in 1usize..4,
        use_start: bool,
        use_end: bool,
    ) {
        let x = iota(&shape);
        let n = shape[d];
        let (start, end) = (use_start.then_some(start), use_end.then_some(end));
        let v = x.slice(d as isize, start, end, step);
        // Python's own rule for which indices `range(n)[start:end:step]` keeps.
        let norm = |b: isize| (if b < 0 { b + n as isize } else { b }).clamp(0, n as isize) as usize;
        let (s, e) = (start.map_or(0, norm), end.map_or(n, norm));
        let kept: Vec<usize> = (s..e.max(s)).step_by(step).collect();
        let data = x.to_vec::<f64>();
        let expected: Vec<f64> = coords(&shape)
            .iter()
            .filter(|c| kept.contains(&c[d]))
            .map(|c| data[flat(c, &shape)])
            .collect();
        prop_assert_eq!(v.shape()[d], kept.len());
        prop_assert_eq!(v.to_vec::<f64>(), expected.clone());
        prop_assert_eq!(v.contiguous().to_vec::<f64>(), expected);
        prop_assert!(v.storage().same(x.storage()));
        // narrow over the same contiguous range (step 1).
        if s <= e {
            let w = x.narrow(d as isize, s as isize, e - s);
            prop_assert_eq!(w.to_vec::<f64>(), w.contiguous().to_vec::<f64>());
            prop_assert_eq!(w.to_vec::<f64>(), x.slice(d as isize, Some(s as isize), Some(e as isize), 1).to_vec::<f64>());
        }
    }

    #[test]
    fn cat_then_split_round_trips(
        (shape, d) in shape_and_dim(),
        sizes in prop::collection::vec(0usize..=3, 1..=4),
    ) {
        let parts: Vec<Tensor> = sizes
            .iter()
            .enumerate()
            .map(|(i, &k)| {
                let mut s = shape.clone();
                s[d] = k;
                iota(&s).add_scalar(1000.0 * i as f64)
            })
            .collect();
        let c = kiln::cat(&parts, d as isize);
        prop_assert_eq!(c.shape()[d], sizes.iter().sum::<usize>());
        let back = c.split_sizes(&sizes, d as isize);
        prop_assert_eq!(back.len(), parts.len());
        for (p, b) in parts.iter().zip(&back) {
            prop_assert_eq!(b.shape(), p.shape());
            prop_assert_eq!(b.to_vec::<f64>(), p.to_vec::<f64>());
        }
        // stack then unbind round-trips too.
        let s = kiln::stack(&[parts[0].shallow_clone(), parts[0].add_scalar(1.0)], d as isize);
        let u = s.unbind(d as isize);
        prop_assert_eq!(u[1].to_vec::<f64>(), parts[0].add_scalar(1.0).to_vec::<f64>());
    }

    #[test]
    fn reshape_of_non_contiguous_views((shape, perm) in shape_and_perm(), step in 1usize..3) {
        let x = iota(&shape);
        let mut v = x.permute(&as_isize(&perm));
        if v.dim() > 0 {
            v = v.slice(0, None, None, step);
        }
        let reference = v.contiguous().to_vec::<f64>();
        prop_assert_eq!(v.to_vec::<f64>(), reference.clone());
        let n = v.numel();
        let f = v.reshape(&[n]);
        prop_assert_eq!(f.to_vec::<f64>(), reference.clone());
        let rev: Vec<usize> = v.shape().iter().rev().copied().collect();
        let r = v.reshape(&rev);
        prop_assert_eq!(r.to_vec::<f64>(), reference.clone());
        let back = r.reshape(v.shape());
        prop_assert_eq!(back.to_vec::<f64>(), reference.clone());
        // A flatten of the trailing dims, the commonest reshape in models.
        if v.dim() >= 2 {
            prop_assert_eq!(v.flatten(1, -1).to_vec::<f64>(), reference);
        }
    }
}
