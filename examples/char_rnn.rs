//! A character-level language model: `Embedding(V, 64)` → 2-layer `LSTM(64, 256)` →
//! `Linear(256, V)`, trained with Adam on the opening of Shakespeare's *Coriolanus*
//! (`data/text/coriolanus.txt`, public domain, see `data/text/LICENSE.md`) to predict each
//! next character. Every few hundred steps it prints the loss and a sample drawn one
//! character at a time with temperature sampling (the LSTM's `(h, c)` carried between
//! steps), so the samples can be watched turning from noise into words, speaker names and
//! verse lines as the loss falls.
//!
//! Run: `cargo run --release --example char_rnn [STEPS] [TEMPERATURE]` (default 1500
//! steps, temperature 0.8).

use kiln::Tensor;
use kiln::nn::functional as F;
use kiln::nn::{Embedding, LSTM, Linear, Module, RnnOptions};
use kiln::optim::{Adam, Optimizer, clip_grad_norm_};
use std::error::Error;
use std::time::Instant;

const SEQ: usize = 64;
const BATCH: usize = 32;

#[derive(Module)]
struct CharModel {
    embed: Embedding,
    lstm: LSTM,
    head: Linear,
}

impl CharModel {
    fn new(vocab: usize) -> Self {
        CharModel {
            embed: Embedding::new(vocab, 64),
            lstm: LSTM::with_options(64, 256, RnnOptions::new().num_layers(2).batch_first(true)),
            head: Linear::new(256, vocab),
        }
    }

    /// `[B, T]` character ids → `[B, T, V]` logits, and the final `(h, c)`.
    fn step(&self, ids: &Tensor, state: Option<(&Tensor, &Tensor)>) -> (Tensor, (Tensor, Tensor)) {
        let (out, state) = self.lstm.forward_with(&self.embed.forward(ids), state);
        (self.head.forward(&out), state)
    }

    fn forward(&self, ids: &Tensor) -> Tensor {
        self.step(ids, None).0
    }
}

/// Draws an index from `softmax(logits / temperature)` with the default generator.
fn sample(logits: &Tensor, temperature: f64) -> usize {
    let probs = logits.div_scalar(temperature).softmax(-1).to_vec::<f64>();
    let u = kiln::tensor::random::with_global(|g| g.uniform_f64());
    let mut acc = 0.0;
    for (i, p) in probs.iter().enumerate() {
        acc += p;
        if u < acc {
            return i;
        }
    }
    probs.len() - 1
}

/// `len` characters continuing `prime`, one step at a time.
fn generate(
    model: &CharModel,
    chars: &[char],
    prime: &[usize],
    len: usize,
    temperature: f64,
) -> String {
    kiln::no_grad(|| {
        let ids = Tensor::from_vec(
            prime.iter().map(|&i| i as i64).collect::<Vec<_>>(),
            &[1, prime.len()],
        );
        let (logits, (mut h, mut c)) = model.step(&ids, None);
        let mut next = sample(&logits.select(1, -1).reshape(&[chars.len()]), temperature);
        let mut text = String::new();
        for _ in 0..len {
            text.push(chars[next]);
            let ids = Tensor::from_vec(vec![next as i64], &[1, 1]);
            let (logits, (h2, c2)) = model.step(&ids, Some((&h, &c)));
            (h, c) = (h2, c2);
            next = sample(&logits.reshape(&[chars.len()]), temperature);
        }
        text
    })
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().map_or(Ok(1500), |a| a.parse())?;
    let temperature: f64 = args.next().map_or(Ok(0.8), |a| a.parse())?;
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/text/coriolanus.txt");
    let text = std::fs::read_to_string(path)?;
    let mut chars: Vec<char> = text.chars().collect();
    chars.sort_unstable();
    chars.dedup();
    let ids: Vec<usize> = text
        .chars()
        .map(|c| chars.binary_search(&c).unwrap())
        .collect();
    println!("{} characters, vocabulary of {}", ids.len(), chars.len());
    kiln::manual_seed(0);
    let model = CharModel::new(chars.len());
    let mut opt = Adam::new(model.parameters(), 2e-3);
    let prime: Vec<usize> = "MENENIUS:\n"
        .chars()
        .map(|c| chars.binary_search(&c).unwrap())
        .collect();
    let start = Instant::now();
    let mut running = None;
    for step in 1..=steps {
        // A batch of random windows: inputs ids[s..s+SEQ], targets shifted by one.
        let (mut x, mut y) = (
            Vec::with_capacity(BATCH * SEQ),
            Vec::with_capacity(BATCH * SEQ),
        );
        for _ in 0..BATCH {
            let s =
                kiln::tensor::random::with_global(|g| g.randint(0, (ids.len() - SEQ - 1) as i64))
                    as usize;
            x.extend(ids[s..s + SEQ].iter().map(|&i| i as i64));
            y.extend(ids[s + 1..s + SEQ + 1].iter().map(|&i| i as i64));
        }
        let x = Tensor::from_vec(x, &[BATCH, SEQ]);
        let y = Tensor::from_vec(y, &[BATCH * SEQ]);
        let logits = model.forward(&x).reshape(&[BATCH * SEQ, chars.len()]);
        let loss = F::cross_entropy(&logits, &y);
        opt.zero_grad();
        loss.backward();
        clip_grad_norm_(&model.parameters(), 5.0, 2.0);
        opt.step();
        let l = loss.item();
        running = Some(running.map_or(l, |r: f64| 0.95 * r + 0.05 * l));
        if step == 1 || step % 250 == 0 || step == steps {
            println!(
                "step {step}: loss {:.3} ({:.1} s)\n---\n{}\n---",
                running.unwrap(),
                start.elapsed().as_secs_f64(),
                generate(&model, &chars, &prime, 200, temperature)
            );
        }
    }
    Ok(())
}
