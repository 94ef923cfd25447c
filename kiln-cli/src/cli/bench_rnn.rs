//! The recurrent rows of `kiln bench` (keys `rnn_*`): one training step (forward,
//! backward, Adam) of a classifier over a `[64, 28, 28]` batch of 28-step sequences, as in
//! sequential MNIST, for an LSTM(28, 128), a 2-layer GRU(28, 128) and a bidirectional
//! LSTM(28, 128); `scripts/bench_pytorch.py` times the same steps.

use kiln::Tensor;
use kiln::nn::{GRU, LSTM, Linear, Module, RnnOptions};
use kiln::optim::{Adam, Optimizer};

/// Median seconds of one step, after warm-up steps.
fn time_steps(step: &mut dyn FnMut()) -> f64 {
    super::bench::median_secs(20, 3, step)
}

/// Inserts `rnn_lstm_step_b64_s`, `rnn_gru2_step_b64_s` and `rnn_bilstm_step_b64_s`.
pub fn rows(out: &mut serde_json::Map<String, serde_json::Value>) {
    let x = Tensor::randn(&[64, 28, 28]);
    let y = Tensor::randint(0, 10, &[64]);
    let opts = RnnOptions::new().batch_first(true);
    let lstm = LSTM::with_options(28, 128, opts.clone());
    let gru = GRU::with_options(28, 128, opts.clone().num_layers(2));
    let bilstm = LSTM::with_options(28, 128, opts.bidirectional(true));
    let (fc, fc2) = (Linear::new(128, 10), Linear::new(256, 10));
    let cases: [(&str, &dyn Module, &Linear); 3] = [
        ("rnn_lstm_step_b64_s", &lstm, &fc),
        ("rnn_gru2_step_b64_s", &gru, &fc),
        ("rnn_bilstm_step_b64_s", &bilstm, &fc2),
    ];
    for (key, rnn, head) in cases {
        let mut params = rnn.parameters();
        params.extend(head.parameters());
        let mut opt = Adam::new(params, 1e-3);
        let t = time_steps(&mut || {
            opt.zero_grad();
            let last = rnn.forward(&x).select(1, -1);
            kiln::nn::functional::cross_entropy(&head.forward(&last), &y).backward();
            opt.step();
        });
        out.insert(key.into(), t.into());
    }
}
