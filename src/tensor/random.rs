//! Random number generation that reproduces PyTorch's CPU generator bit for bit.
//!
//! [`Generator`] is the 32-bit Mersenne Twister PyTorch uses (`at::mt19937`), and its
//! samplers follow ATen's CPU kernels: the same raw draws, the same bit masks, the same
//! order of floating-point operations (including the fused multiply-adds that PyTorch's
//! x86-64 builds emit). After `kiln::manual_seed(s)` the draws equal those after
//! `torch.manual_seed(s)`:
//!
//! * `rand`/`uniform_`: one 32-bit draw per f32 (24 bits used), one 64-bit draw per f64 (53 bits).
//! * `randn`/`normal_` on fewer than 16 elements: Box-Muller in f64 that keeps the second
//!   normal for the next call; on 16 or more: a block transform over groups of 16 uniforms,
//!   with the polynomial `log`/`sincos` of PyTorch's AVX2 kernel for f32 (used on every
//!   x86-64 CPU with AVX2, including AVX-512 ones) and libm's for f64.
//! * `randint`: 32-bit draws for ranges below 2^28, 64-bit ones above.
//! * `randperm`: PyTorch's swap-based Fisher-Yates.
//! * `bernoulli_(p)` with a scalar `p` (dropout masks): the kernel PyTorch picks for the
//!   CPU, see [`BernoulliScalarKernel`].
//!
//! On CPUs without AVX2 (and on ARM) PyTorch's own f32 `randn` of 16+ elements and its
//! `uniform_` with bounds other than [0, 1) round differently; kiln follows the x86-64 AVX2 path.

use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot::Mutex;

const N: usize = 624;
const M: usize = 397;

/// The seed of a fresh `torch.Generator()` (ATen's `default_rng_seed_val`).
pub const DEFAULT_SEED: u64 = 67280421310721;

/// A seedable random generator (MT19937, 32-bit), like a CPU `torch.Generator`.
#[derive(Clone, Debug, PartialEq)]
pub struct Generator {
    state: Vec<u32>,
    index: usize,
    seed: u64,
    /// The second normal of the last scalar Box-Muller pair, consumed by the next draw.
    next_normal: Option<f64>,
}

impl Default for Generator {
    /// A generator seeded like `torch.Generator()`, with [`DEFAULT_SEED`].
    fn default() -> Self {
        Generator::new(DEFAULT_SEED)
    }
}

impl Generator {
    /// A generator seeded like `torch.Generator().manual_seed(seed)`. Only the low
    /// 32 bits of `seed` reach the Mersenne Twister, as in PyTorch.
    pub fn new(seed: u64) -> Self {
        let mut state = vec![0u32; N];
        state[0] = seed as u32;
        for i in 1..N {
            state[i] = 1812433253u32
                .wrapping_mul(state[i - 1] ^ (state[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Generator {
            state,
            index: N,
            seed,
            next_normal: None,
        }
    }

    /// Re-seeds in place (`generator.manual_seed(seed)`), dropping any cached normal.
    pub fn manual_seed(&mut self, seed: u64) {
        *self = Generator::new(seed);
    }

    /// The seed this generator was last seeded with (`generator.initial_seed()`).
    pub fn initial_seed(&self) -> u64 {
        self.seed
    }

    /// The complete state as bytes (for checkpoints; `torch.get_rng_state()` plays this
    /// role in PyTorch, with its own layout): a version byte, the seed, the position in
    /// the twister, the 624 state words and the cached normal, all little-endian.
    pub fn state_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(STATE_BYTES);
        out.push(STATE_VERSION);
        out.extend_from_slice(&self.seed.to_le_bytes());
        out.extend_from_slice(&(self.index as u32).to_le_bytes());
        for w in &self.state {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.push(self.next_normal.is_some() as u8);
        out.extend_from_slice(&self.next_normal.unwrap_or(0.0).to_le_bytes());
        out
    }

    /// Rebuilds a generator from [`Generator::state_bytes`], checking every field.
    pub fn from_state_bytes(bytes: &[u8]) -> Result<Generator, RngStateError> {
        let err = |m: String| Err(RngStateError(m));
        if bytes.len() != STATE_BYTES {
            return err(format!("expected {STATE_BYTES} bytes, got {}", bytes.len()));
        }
        if bytes[0] != STATE_VERSION {
            return err(format!("unknown state version {}", bytes[0]));
        }
        let u32_at =
            |o: usize| u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
        let seed = u64::from_le_bytes(bytes[1..9].try_into().expect("8 bytes"));
        let index = u32_at(9) as usize;
        if index > N {
            return err(format!("twister position {index} is past {N}"));
        }
        let state: Vec<u32> = (0..N).map(|i| u32_at(13 + 4 * i)).collect();
        let flag_at = 13 + 4 * N;
        let next_normal = match bytes[flag_at] {
            0 => None,
            1 => Some(f64::from_le_bytes(
                bytes[flag_at + 1..flag_at + 9].try_into().expect("8 bytes"),
            )),
            f => return err(format!("cached-normal flag is {f}, not 0 or 1")),
        };
        Ok(Generator {
            state,
            index,
            seed,
            next_normal,
        })
    }

    fn twist(&mut self) {
        // Three runs without a modulo in the index arithmetic, so the loop vectorises.
        fn mix(cur: u32, next: u32, far: u32) -> u32 {
            let y = (cur & 0x8000_0000) | (next & 0x7fff_ffff);
            far ^ (y >> 1) ^ ((y & 1).wrapping_neg() & 0x9908_b0df)
        }
        let s = &mut self.state;
        for i in 0..N - M {
            s[i] = mix(s[i], s[i + 1], s[i + M]);
        }
        for i in N - M..N - 1 {
            s[i] = mix(s[i], s[i + 1], s[i + M - N]);
        }
        s[N - 1] = mix(s[N - 1], s[0], s[M - 1]);
        self.index = 0;
    }

    fn temper(mut y: u32) -> u32 {
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// Fills `out` with the next `out.len()` 32-bit draws, exactly as that many
    /// [`Generator::next_u32`] calls would, but a whole state block at a time.
    pub fn fill_u32(&mut self, out: &mut [u32]) {
        let mut done = 0;
        while done < out.len() {
            if self.index >= N {
                self.twist();
            }
            let take = (N - self.index).min(out.len() - done);
            let src = &self.state[self.index..self.index + take];
            for (o, &v) in out[done..done + take].iter_mut().zip(src) {
                *o = Self::temper(v);
            }
            self.index += take;
            done += take;
        }
    }

    /// The next 32 random bits (ATen's `random()`).
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let y = self.state[self.index];
        self.index += 1;
        Self::temper(y)
    }

    /// The next 64 random bits (ATen's `random64()`): the first 32-bit draw is the high half.
    pub fn next_u64(&mut self) -> u64 {
        let hi = self.next_u32() as u64;
        let lo = self.next_u32() as u64;
        (hi << 32) | lo
    }

    /// Uniform in [0, 1) from the low 24 bits of one 32-bit draw (an f32 `rand` element).
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u32() & 0x00ff_ffff) as f32 * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) from the low 53 bits of one 64-bit draw (an f64 `rand` element).
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() & ((1u64 << 53) - 1)) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// One f32 element of `tensor.uniform_(low, high)`: `high` itself maps back to `low`.
    pub fn uniform_range_f32(&mut self, low: f64, high: f64) -> f32 {
        check_uniform_bounds(low, high);
        let (from, to) = (low as f32, high as f32);
        let v = self.uniform_f32().mul_add(to - from, from);
        if v == to { from } else { v }
    }

    /// One f64 element of `tensor.uniform_(low, high)`: `high` itself maps back to `low`.
    pub fn uniform_range_f64(&mut self, low: f64, high: f64) -> f64 {
        check_uniform_bounds(low, high);
        let v = self.uniform_f64().mul_add(high - low, low);
        if v == high { low } else { v }
    }

    /// A standard normal draw, as one element of a small (< 16 elements) `randn`.
    ///
    /// Box-Muller in f64 on two 53-bit uniforms; the sine half is kept and returned by
    /// the next call, exactly like PyTorch's cached `next_double_normal_sample`.
    pub fn normal(&mut self) -> f64 {
        if let Some(v) = self.next_normal.take() {
            return v;
        }
        let u1 = self.uniform_f64();
        let u2 = self.uniform_f64();
        let r = (-2.0 * (-u2).ln_1p()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u1;
        self.next_normal = Some(r * theta.sin());
        r * theta.cos()
    }

    /// `normal()` scaled and shifted as PyTorch does (`z * std + mean`, fused).
    pub fn normal_with(&mut self, mean: f64, std: f64) -> f64 {
        self.normal().mul_add(std, mean)
    }

    /// A uniform integer in `[low, high)`, as one element of `torch.randint(low, high, ...)`.
    pub fn randint(&mut self, low: i64, high: i64) -> i64 {
        assert!(
            high > low,
            "random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        );
        let range = high.wrapping_sub(low) as u64;
        let v = if range >= 1 << 28 {
            self.next_u64()
        } else {
            self.next_u32() as u64
        };
        (v % range).wrapping_add(low as u64) as i64
    }

    /// One draw of `torch.bernoulli` for an f32 probability (compared with a 24-bit uniform).
    pub fn bernoulli_f32(&mut self, p: f32) -> bool {
        check_probability(p as f64);
        self.uniform_f32() < p
    }

    /// One draw of `torch.bernoulli` for an f64 probability (compared with a 53-bit uniform).
    pub fn bernoulli_f64(&mut self, p: f64) -> bool {
        check_probability(p);
        self.uniform_f64() < p
    }

    /// Fills `out` like `tensor.uniform_(low, high)` on a contiguous f32 tensor.
    pub fn fill_uniform_f32(&mut self, out: &mut [f32], low: f64, high: f64) {
        for v in out {
            *v = self.uniform_range_f32(low, high);
        }
    }

    /// Fills `out` like `tensor.uniform_(low, high)` on a contiguous f64 tensor.
    pub fn fill_uniform_f64(&mut self, out: &mut [f64], low: f64, high: f64) {
        for v in out {
            *v = self.uniform_range_f64(low, high);
        }
    }

    /// Fills `out` like `tensor.normal_(mean, std)` on a contiguous f32 tensor.
    pub fn fill_normal_f32(&mut self, out: &mut [f32], mean: f64, std: f64) {
        check_std(std);
        if out.len() < 16 {
            for v in out {
                *v = self.normal_with(mean, std) as f32;
            }
            return;
        }
        for v in out.iter_mut() {
            *v = self.uniform_f32();
        }
        let (mean, std) = (mean as f32, std as f32);
        // At the CPU's SIMD level: on the baseline target every `mul_add` is a call to
        // libm's `fmaf` (70% of `randn`'s time); with FMA enabled it is one instruction,
        // with the same bits.
        crate::tensor::kernels::simd::dispatch(
            #[inline(always)]
            || {
                for block in out.chunks_exact_mut(16) {
                    normal_block_f32(block, mean, std);
                }
            },
        );
        // A ragged tail is redone as the last 16 elements, over fresh uniforms.
        let n = out.len();
        if !n.is_multiple_of(16) {
            let tail = &mut out[n - 16..];
            for v in tail.iter_mut() {
                *v = self.uniform_f32();
            }
            normal_block_f32(tail, mean, std);
        }
    }

    /// Fills `out` like `tensor.normal_(mean, std)` on a contiguous f64 tensor.
    pub fn fill_normal_f64(&mut self, out: &mut [f64], mean: f64, std: f64) {
        check_std(std);
        if out.len() < 16 {
            for v in out {
                *v = self.normal_with(mean, std);
            }
            return;
        }
        for v in out.iter_mut() {
            *v = self.uniform_f64();
        }
        for block in out.chunks_exact_mut(16) {
            normal_block_f64(block, mean, std);
        }
        let n = out.len();
        if !n.is_multiple_of(16) {
            let tail = &mut out[n - 16..];
            for v in tail.iter_mut() {
                *v = self.uniform_f64();
            }
            normal_block_f64(tail, mean, std);
        }
    }

    /// A random permutation of `0..n`, like `torch.randperm(n)`.
    pub fn randperm(&mut self, n: usize) -> Vec<i64> {
        let n64 = n as i64;
        if n64 < (u32::MAX / 20) as i64 {
            let mut r: Vec<i64> = (0..n64).collect();
            for i in 0..n.saturating_sub(1) {
                let z = (self.next_u32() as u64 % (n - i) as u64) as usize;
                r.swap(i, i + z);
            }
            r
        } else {
            // PyTorch switches to the "inside-out" shuffle on 64-bit draws for huge n.
            let mut r = vec![0i64; n];
            for i in 0..n {
                let z = (self.next_u64() % (i as u64 + 1)) as usize;
                r[i] = r[z];
                r[z] = i as i64;
            }
            r
        }
    }
}

/// The kernel behind PyTorch's CPU `bernoulli_(p)` with a scalar `p`, which is what
/// `F.dropout` draws its mask with.
///
/// ATen's source has an MKL path for Intel CPUs, but the PyTorch 2.15 pip wheel does not
/// take it: on an Intel Xeon (AVX-512) it drew exactly the masks it draws on an AMD Zen 4
/// (`scripts/fixtures/gen_init_shuffle.py` run on both gives identical `dropout` and
/// `random` sections). So kiln uses [`BernoulliScalarKernel::Generator`] everywhere by
/// default and keeps [`BernoulliScalarKernel::Mkl`] (checked against MKL 2024.2 itself)
/// for PyTorch builds that do take the MKL path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BernoulliScalarKernel {
    /// ATen's own kernel: per element, one 53-bit uniform from the generator (two 32-bit
    /// draws), 1 when it is below `p`.
    Generator,
    /// MKL's `viRngBernoulli` (`VSL_RNG_METHOD_BERNOULLI_ICDF`): a single 32-bit draw
    /// from the generator seeds an MCG31m1 stream (`x' = 1132489760 x mod (2^31 - 1)`, its
    /// first output the seed itself reduced, 0 taken as 1); element `i` is 1 when
    /// `f32(x_i / (2^31 - 1)) < f32(p)`.
    Mkl,
}

impl BernoulliScalarKernel {
    /// The kernel PyTorch's pip wheels use on this machine: [`Self::Generator`], on Intel
    /// and AMD CPUs alike (see the type's docs for how that was measured).
    pub fn host() -> Self {
        BernoulliScalarKernel::Generator
    }
}

/// 0: follow [`BernoulliScalarKernel::host`]; 1: Generator; 2: Mkl.
static BERNOULLI_KERNEL: AtomicU8 = AtomicU8::new(0);

/// Forces the kernel scalar-`p` Bernoulli draws (dropout) use, e.g. to match a PyTorch run
/// made on another machine; `None` goes back to [`BernoulliScalarKernel::host`].
pub fn set_bernoulli_scalar_kernel(kernel: Option<BernoulliScalarKernel>) {
    let v = match kernel {
        None => 0,
        Some(BernoulliScalarKernel::Generator) => 1,
        Some(BernoulliScalarKernel::Mkl) => 2,
    };
    BERNOULLI_KERNEL.store(v, Ordering::Relaxed);
}

/// The kernel scalar-`p` Bernoulli draws use now (see [`set_bernoulli_scalar_kernel`]).
pub fn bernoulli_scalar_kernel() -> BernoulliScalarKernel {
    match BERNOULLI_KERNEL.load(Ordering::Relaxed) {
        1 => BernoulliScalarKernel::Generator,
        2 => BernoulliScalarKernel::Mkl,
        _ => BernoulliScalarKernel::host(),
    }
}

impl Generator {
    /// Fills `out` like `tensor.bernoulli_(p)` (scalar `p`) on a contiguous tensor with
    /// PyTorch's CPU `kernel`: `true` where the element is 1.
    pub fn fill_bernoulli_scalar(
        &mut self,
        out: &mut [bool],
        p: f64,
        kernel: BernoulliScalarKernel,
    ) {
        check_probability(p);
        match kernel {
            BernoulliScalarKernel::Generator => {
                // Two 32-bit draws per element (one `uniform_f64`), fetched in bulk.
                let mut bits = vec![0u32; 2 * out.len()];
                self.fill_u32(&mut bits);
                let bound = bernoulli_bound(p);
                for (v, pair) in out.iter_mut().zip(bits.chunks_exact(2)) {
                    *v = pair_bits53(pair[0], pair[1]) < bound;
                }
            }
            BernoulliScalarKernel::Mkl => {
                const M: u64 = (1 << 31) - 1;
                const A: u64 = 1_132_489_760;
                let mut x = self.next_u32() as u64 % M;
                if x == 0 {
                    x = 1;
                }
                let p = p as f32;
                for v in out {
                    *v = ((x as f64 / M as f64) as f32) < p;
                    x = x * A % M;
                }
            }
        }
    }
}

/// One element of [`BernoulliScalarKernel::Generator`]: the 53-bit uniform made of two
/// consecutive 32-bit draws (`hi` first) is below `p`.
#[inline(always)]
pub fn bernoulli_from_pair(hi: u32, lo: u32, p: f64) -> bool {
    let r = ((hi as u64) << 32) | lo as u64;
    ((r & ((1u64 << 53) - 1)) as f64 * (1.0 / (1u64 << 53) as f64)) < p
}

/// [`bernoulli_from_pair`] as an integer test: the pair's low 53 bits, `r`, are below
/// the returned bound exactly when `r * 2^-53 < p`. Both `r` (53 bits) and `p * 2^53`
/// (a power-of-two scaling) are exact in f64, and an integer is below a real number
/// exactly when it is below its ceiling, so the float multiply and conversion per
/// element become one integer compare, which vectorises.
pub fn bernoulli_bound(p: f64) -> u64 {
    (p * (1u64 << 53) as f64).ceil() as u64
}

/// The 53-bit value [`bernoulli_from_pair`] compares, for use with [`bernoulli_bound`].
#[inline(always)]
pub fn pair_bits53(hi: u32, lo: u32) -> u64 {
    (((hi as u64) << 32) | lo as u64) & ((1u64 << 53) - 1)
}

fn check_uniform_bounds(low: f64, high: f64) {
    assert!(
        low <= high,
        "uniform_ expects to return a [from, to) range, but found from={low} > to={high}"
    );
}

fn check_probability(p: f64) {
    assert!(
        (0.0..=1.0).contains(&p),
        "bernoulli: expected 0 <= p <= 1, but got p={p}"
    );
}

fn check_std(std: f64) {
    assert!(std >= 0.0, "normal expects std >= 0.0, but found std {std}");
}

/// Box-Muller over 16 uniforms: pairs (`i`, `i + 8`) become two normals (f64, libm).
fn normal_block_f64(data: &mut [f64], mean: f64, std: f64) {
    for j in 0..8 {
        let u1 = 1.0 - data[j];
        let u2 = data[j + 8];
        let radius = (-2.0 * u1.ln()).sqrt();
        let theta = 2.0 * std::f64::consts::PI * u2;
        data[j] = (radius * theta.cos()).mul_add(std, mean);
        data[j + 8] = (radius * theta.sin()).mul_add(std, mean);
    }
}

/// Box-Muller over 16 f32 uniforms as PyTorch's AVX2 kernel computes it: the Cephes
/// polynomial `log` and `sincos` (from `avx_mathfun.h`) evaluated with the fused
/// multiply-adds the compiler formed, lane by lane.
#[inline(always)]
fn normal_block_f32(data: &mut [f32], mean: f32, std: f32) {
    let two_pi = (2.0 * std::f64::consts::PI) as f32;
    for j in 0..8 {
        let u1 = 1.0 - data[j];
        let u2 = data[j + 8];
        let radius = (cephes_logf(u1) * -2.0).sqrt();
        let (sin, cos) = cephes_sincosf(two_pi * u2);
        data[j] = (radius * cos).mul_add(std, mean);
        data[j + 8] = (radius * sin).mul_add(std, mean);
    }
}

/// Natural log for positive normal `x` (one lane of `log256_ps`).
#[allow(clippy::excessive_precision)] // the Cephes constants as published
#[inline(always)]
fn cephes_logf(x: f32) -> f32 {
    const P: [f64; 9] = [
        7.0376836292E-2,
        -1.1514610310E-1,
        1.1676998740E-1,
        -1.2420140846E-1,
        1.4249322787E-1,
        -1.6668057665E-1,
        2.0000714765E-1,
        -2.4999993993E-1,
        3.3333331174E-1,
    ];
    let invalid = x <= 0.0;
    let x = x.max(f32::MIN_POSITIVE);
    let bits = x.to_bits();
    // Split into mantissa in [0.5, 1) and exponent.
    let mut m = f32::from_bits((bits & !0x7f80_0000) | 0.5f32.to_bits());
    let mut e = ((bits >> 23) as i32 - 0x7f) as f32 + 1.0;
    let small = m < std::f64::consts::FRAC_1_SQRT_2 as f32;
    let tmp = if small { m } else { 0.0 };
    m -= 1.0;
    if small {
        e -= 1.0;
    }
    m += tmp;
    let z = m * m;
    let mut y = P[0] as f32;
    for p in &P[1..] {
        y = y.mul_add(m, *p as f32);
    }
    y = (y * m).mul_add(z, e * (-2.12194440e-4f64 as f32));
    y = (-z).mul_add(0.5, y);
    let r = e.mul_add(0.693359375, m + y);
    if invalid { f32::NAN } else { r }
}

/// Sine and cosine (one lane of `sincos256_ps`), accurate for |x| < 8192.
#[allow(clippy::excessive_precision)] // the Cephes constants as published
#[inline(always)]
fn cephes_sincosf(x: f32) -> (f32, f32) {
    const FOPI: f64 = 1.27323954473516;
    const DP: [f64; 3] = [
        -0.78515625,
        -2.4187564849853515625e-4,
        -3.77489497744594108e-8,
    ];
    const COS: [f64; 3] = [
        2.443315711809948E-005,
        -1.388731625493765E-003,
        4.166664568298827E-002,
    ];
    const SIN: [f64; 3] = [-1.9515295891E-4, 8.3321608736E-3, -1.6666654611E-1];

    let sign_sin = x.to_bits() & 0x8000_0000;
    let ax = x.abs();
    let j = (((ax * FOPI as f32) as i32).wrapping_add(1)) & !1;
    let y = j as f32;
    let sign_sin = sign_sin ^ (((j & 4) as u32) << 29);
    let sign_cos = ((!(j.wrapping_sub(2)) & 4) as u32) << 29;
    let use_sin_poly = j & 2 == 0;

    let mut r = y.mul_add(DP[0] as f32, ax);
    r = y.mul_add(DP[1] as f32, r);
    r = y.mul_add(DP[2] as f32, r);
    let z = r * r;

    let half_z = z * 0.5;
    let mut c = (COS[0] as f32).mul_add(z, COS[1] as f32);
    c = c.mul_add(z, COS[2] as f32);
    c = (c * z).mul_add(z, -half_z) + 1.0;

    let mut s = (SIN[0] as f32).mul_add(z, SIN[1] as f32);
    s = s.mul_add(z, SIN[2] as f32);
    s = r.mul_add(s * z, r);

    // The vector code selects by masking and adding zeros; keep that (it turns -0 into +0).
    let (sin, cos) = if use_sin_poly {
        (0.0 + s, c + 0.0)
    } else {
        (c + 0.0, 0.0 + s)
    };
    (
        f32::from_bits(sin.to_bits() ^ sign_sin),
        f32::from_bits(cos.to_bits() ^ sign_cos),
    )
}

const STATE_VERSION: u8 = 1;
const STATE_BYTES: usize = 1 + 8 + 4 + 4 * N + 1 + 8;

/// Bytes that are not a generator state from [`Generator::state_bytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RngStateError(pub String);

impl std::fmt::Display for RngStateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid random generator state: {}", self.0)
    }
}

impl std::error::Error for RngStateError {}

static GLOBAL: Mutex<Option<Generator>> = Mutex::new(None);

/// Seeds the process-wide default generator (`torch.manual_seed`).
pub fn manual_seed(seed: u64) {
    *GLOBAL.lock() = Some(Generator::new(seed));
}

/// Runs `f` with the process-wide default generator.
///
/// Until [`manual_seed`] is called it is seeded with [`DEFAULT_SEED`], so unseeded runs are
/// reproducible; PyTorch seeds its default generator from the OS entropy instead.
pub fn with_global<R>(f: impl FnOnce(&mut Generator) -> R) -> R {
    let mut g = GLOBAL.lock();
    f(g.get_or_insert_with(Generator::default))
}

/// A snapshot of the default generator's state (for checkpoints).
pub fn get_rng_state() -> Generator {
    with_global(|g| g.clone())
}

/// Restores the default generator from a snapshot.
pub fn set_rng_state(state: Generator) {
    *GLOBAL.lock() = Some(state);
}

/// The seed the default generator was last seeded with (`torch.initial_seed()`).
pub fn initial_seed() -> u64 {
    with_global(|g| g.initial_seed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_bernoulli_bound_agrees_with_the_float_test() {
        let mut g = Generator::new(3);
        let ps = [
            0.0,
            1.0,
            0.8,
            0.5,
            0.2,
            1.0 / 3.0,
            1e-300,
            f64::MIN_POSITIVE,
            1.0 - f64::EPSILON / 2.0,
            0.25 + f64::EPSILON,
        ];
        for &p in &ps {
            let bound = bernoulli_bound(p);
            // The draws around the bound decide; random ones check the rest.
            let mut rs: Vec<u64> = (0..2000).map(|_| g.next_u64() & ((1 << 53) - 1)).collect();
            rs.extend(
                [bound.saturating_sub(1), bound, bound + 1, 0, (1 << 53) - 1]
                    .into_iter()
                    .filter(|&r| r < 1 << 53),
            );
            for r in rs {
                let (hi, lo) = ((r >> 32) as u32, r as u32);
                assert_eq!(
                    pair_bits53(hi, lo) < bound,
                    bernoulli_from_pair(hi, lo, p),
                    "p={p:e} r={r}"
                );
            }
        }
    }

    #[test]
    fn mt19937_reference_value() {
        // The 10000th output of std::mt19937 seeded with 5489 is 4123659995 (C++ standard).
        let mut g = Generator::new(5489);
        let mut v = 0;
        for _ in 0..10000 {
            v = g.next_u32();
        }
        assert_eq!(v, 4123659995);
    }

    #[test]
    fn cephes_functions_are_accurate() {
        for i in 1..2000 {
            let x = i as f32 / 2000.0;
            assert!((cephes_logf(x) as f64 - (x as f64).ln()).abs() < 1e-6);
            let t = x * 6.3;
            let (s, c) = cephes_sincosf(t);
            assert!((s as f64 - (t as f64).sin()).abs() < 1e-6);
            assert!((c as f64 - (t as f64).cos()).abs() < 1e-6);
        }
        assert_eq!(cephes_logf(1.0), 0.0);
        assert!(cephes_logf(0.0).is_nan());
    }

    #[test]
    fn state_bytes_round_trip_mid_stream() {
        let mut g = Generator::new(11);
        for _ in 0..700 {
            g.next_u32();
        }
        g.normal();
        assert!(g.next_normal.is_some());
        let mut back = Generator::from_state_bytes(&g.state_bytes()).unwrap();
        assert_eq!(back, g);
        assert_eq!(back.normal(), g.normal());
        assert_eq!(back.next_u64(), g.next_u64());
        let mut bad = g.state_bytes();
        bad[12] = 0xff; // the high byte of the twister position
        assert!(Generator::from_state_bytes(&bad).is_err());
        assert!(Generator::from_state_bytes(&bad[..10]).is_err());
    }

    #[test]
    fn randperm_is_a_permutation() {
        let mut g = Generator::new(3);
        let mut p = g.randperm(1000);
        p.sort();
        assert_eq!(p, (0..1000).collect::<Vec<i64>>());
        assert!(g.randperm(0).is_empty());
        assert_eq!(g.randperm(1), vec![0]);
    }

    #[test]
    fn uniform_range_stays_in_bounds() {
        let mut g = Generator::new(7);
        let mut v = vec![0f32; 1000];
        g.fill_uniform_f32(&mut v, -0.25, 0.5);
        assert!(v.iter().all(|&x| (-0.25..0.5).contains(&x)));
    }
}
