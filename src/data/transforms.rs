//! Image transforms in the style of `torchvision.transforms`: [`ToTensor`],
//! [`Normalize`] and [`Compose`].
//!
//! They compute in float32 exactly as torchvision does (`x / 255`, then
//! `(x - mean) / std` with `mean` and `std` rounded to float32), so results match
//! PyTorch bit for bit.

use std::fmt;
use std::sync::Arc;

use crate::tensor::kernels::copy;
use crate::tensor::{DType, Tensor};

/// A function from tensor to tensor applied to each sample (torchvision's transforms).
/// Closures `Fn(&Tensor) -> Tensor` are transforms too.
pub trait Transform: Send + Sync {
    /// Transforms one sample.
    fn apply(&self, x: &Tensor) -> Tensor;
}

impl<F: Fn(&Tensor) -> Tensor + Send + Sync> Transform for F {
    fn apply(&self, x: &Tensor) -> Tensor {
        self(x)
    }
}

/// Converts `u8` pixels to `f32` in `[0, 1]` (`transforms.ToTensor()`).
///
/// A single image `[H, W]` becomes `[1, H, W]` (a channel dimension is added, as
/// torchvision does for grayscale images). A stack of images `[N, H, W]` becomes
/// `[N, 1, H, W]`, the same as converting each image and stacking the results.
///
/// Panics on other dtypes or ranks, naming them.
pub fn to_tensor(x: &Tensor) -> Tensor {
    assert!(
        x.dtype() == DType::U8,
        "to_tensor: expected a uint8 image, got dtype {}",
        x.dtype()
    );
    let shape = match *x.shape() {
        [h, w] => vec![1, h, w],
        [n, h, w] => vec![n, 1, h, w],
        ref s => panic!("to_tensor: expected an image [H, W] or images [N, H, W], got shape {s:?}"),
    };
    copy::byte_table(x, &pixel_table(None), &shape)
}

/// [`to_tensor`] as a [`Transform`] value.
#[derive(Clone, Copy, Debug, Default)]
pub struct ToTensor;

impl Transform for ToTensor {
    fn apply(&self, x: &Tensor) -> Tensor {
        to_tensor(x)
    }
}

/// Normalizes each channel: `(x - mean[c]) / std[c]` (`transforms.Normalize(mean, std)`).
///
/// The channel dimension is the third from last (`[..., C, H, W]`); with a single mean
/// and std the same values apply to every element of any shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Normalize {
    /// Per-channel means.
    pub mean: Vec<f64>,
    /// Per-channel standard deviations.
    pub std: Vec<f64>,
}

impl Normalize {
    /// A normalization with per-channel `mean` and `std` (same length, at least one).
    /// Panics on an empty or mismatched list, or a std that is zero in float32.
    pub fn new(mean: &[f64], std: &[f64]) -> Self {
        assert!(
            !mean.is_empty() && mean.len() == std.len(),
            "Normalize: mean and std need the same non-zero length, got {} and {}",
            mean.len(),
            std.len()
        );
        assert!(
            std.iter().all(|&s| s as f32 != 0.0),
            "Normalize: std evaluated to zero after conversion to torch.float32, leading to \
             division by zero."
        );
        Normalize {
            mean: mean.to_vec(),
            std: std.to_vec(),
        }
    }
}

impl Transform for Normalize {
    fn apply(&self, x: &Tensor) -> Tensor {
        assert!(
            x.dtype().is_float(),
            "Normalize: Input tensor should be a float tensor. Got {}.",
            x.dtype()
        );
        let c = self.mean.len();
        if c == 1 {
            return x.sub_scalar(self.mean[0]).div_scalar(self.std[0]);
        }
        assert!(
            x.dim() >= 3 && x.shape()[x.dim() - 3] == c,
            "Normalize: {c} means and stds need a tensor [..., {c}, H, W], got shape {:?}",
            x.shape()
        );
        let per_channel = |v: &[f64]| Tensor::from_vec(v.to_vec(), &[c, 1, 1]).to_dtype(x.dtype());
        x.sub(&per_channel(&self.mean)).div(&per_channel(&self.std))
    }
}

/// Applies transforms one after another (`transforms.Compose([...])`).
///
/// ```
/// use kiln::data::transforms::{Compose, Normalize, ToTensor, Transform};
/// use kiln::Tensor;
/// let t = Compose::new().then(ToTensor).then(Normalize::new(&[0.5], &[0.5]));
/// let img = Tensor::from_vec(vec![0u8, 255, 255, 0], &[2, 2]);
/// assert_eq!(t.apply(&img).to_vec::<f32>(), vec![-1.0, 1.0, 1.0, -1.0]);
/// ```
#[derive(Clone, Default)]
pub struct Compose {
    steps: Vec<Arc<dyn Transform>>,
}

impl Compose {
    /// No transform yet (the identity).
    pub fn new() -> Self {
        Compose::default()
    }

    /// Appends `t`, which runs after the transforms already added.
    pub fn then(mut self, t: impl Transform + 'static) -> Self {
        self.steps.push(Arc::new(t));
        self
    }

    /// Number of transforms.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Whether there is no transform.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

impl Transform for Compose {
    fn apply(&self, x: &Tensor) -> Tensor {
        self.steps
            .iter()
            .fold(x.shallow_clone(), |acc, t| t.apply(&acc))
    }
}

impl fmt::Debug for Compose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Compose({} transforms)", self.steps.len())
    }
}

/// The float32 value of every `u8` pixel after [`to_tensor`] and an optional
/// [`Normalize`] with one mean and std: a 256-entry lookup table that converts a whole
/// dataset bit-identically to the per-sample transforms.
pub(crate) fn pixel_table(normalize: Option<(f64, f64)>) -> [f32; 256] {
    let mut table = [0f32; 256];
    for (b, v) in table.iter_mut().enumerate() {
        let x = b as f32 / 255.0;
        *v = match normalize {
            Some((mean, std)) => (x - mean as f32) / std as f32,
            None => x,
        };
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_tensor_scales_and_adds_a_channel() {
        let img = Tensor::from_vec(vec![0u8, 51, 255, 128, 1, 2], &[2, 3]);
        let t = to_tensor(&img);
        assert_eq!(t.shape(), &[1, 2, 3]);
        assert_eq!(t.dtype(), DType::F32);
        let v = t.to_vec::<f32>();
        assert_eq!((v[0], v[1], v[2]), (0.0, 0.2, 1.0));
        let many = Tensor::from_vec(vec![0u8; 2 * 2 * 3], &[2, 2, 3]);
        assert_eq!(to_tensor(&many).shape(), &[2, 1, 2, 3]);
    }

    #[test]
    #[should_panic(expected = "to_tensor: expected a uint8 image, got dtype torch.float32")]
    fn to_tensor_rejects_floats() {
        to_tensor(&Tensor::zeros(&[2, 2]));
    }

    #[test]
    fn normalize_per_channel_and_scalar() {
        let x = Tensor::from_vec(vec![1.0f32, 2.0, 3.0, 4.0], &[2, 1, 2]);
        let n = Normalize::new(&[1.0, 2.0], &[1.0, 2.0]);
        assert_eq!(n.apply(&x).to_vec::<f32>(), vec![0.0, 1.0, 0.5, 1.0]);
        let s = Normalize::new(&[1.0], &[2.0]);
        assert_eq!(s.apply(&x).to_vec::<f32>(), vec![0.0, 0.5, 1.0, 1.5]);
    }

    #[test]
    fn pixel_table_matches_the_transforms() {
        let table = pixel_table(Some((0.1307, 0.3081)));
        let px: Vec<u8> = (0..=255).collect();
        let img = Tensor::from_vec(px, &[16, 16]);
        let t = Compose::new()
            .then(ToTensor)
            .then(Normalize::new(&[0.1307], &[0.3081]));
        let bits = |v: Vec<f32>| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(t.apply(&img).to_vec::<f32>()), bits(table.to_vec()));
    }
}
