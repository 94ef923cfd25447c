//! Port of the tutorial's tensor basics: 0-D, 1-D and 2-D tensors, a batch of images,
//! matrix products and broadcasting. Prints what PyTorch prints.
//!
//! Run: `cargo run --example tensor_basics`

use kiln::{Tensor, tensor};

fn main() {
    // 0D 张量:标量 / 1D 张量:向量 / 2D 张量:矩阵
    let scalar = tensor(&3);
    let vector = tensor(&[1, 2, 3]);
    let matrix = tensor(&[[1, 2], [3, 4]]);
    println!("{scalar}  dim={}", scalar.dim());
    println!("{vector}  dim={}", vector.dim());
    println!("{matrix}  dim={}", matrix.dim());

    // A batch of 32 images of 28×28 pixels.
    kiln::manual_seed(0);
    let batch = Tensor::rand(&[32, 28, 28]);
    println!("batch shape: {:?}", batch.shape());
    let flat = batch.reshape_infer(&[32, -1]);
    println!("flattened for a Linear layer: {:?}", flat.shape());

    // Matrix product: [2, 3] @ [3, 2].
    let a = tensor(&[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]);
    let b = tensor(&[[1.0, 0.5], [0.0, 1.0], [2.0, -1.0]]);
    println!("a @ b =\n{}", a.matmul(&b));

    // Broadcasting: a [2, 3] matrix plus a [3] row adds the row to every line.
    let bias = tensor(&[10.0, 20.0, 30.0]);
    println!("a + bias =\n{}", &a + &bias);
    println!("a * 2 =\n{}", &a * 2.0);
    println!("a.sum(dim=0) = {}", a.sum_dims(&[0], false));
    println!("a.mean() = {}", a.mean());
    println!("a.t() =\n{}", a.t());
}
