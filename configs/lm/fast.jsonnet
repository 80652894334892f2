// The fastest road to a good word-level LM on a small CPU, for any corpus of contiguous text: the lowest
// validation perplexity after about 15 minutes of training on this 2-core machine.
//   lmlab train configs/lm/fast.jsonnet -s runs/fast                                      (WikiText-2)
//   LM_DATA_DIR=DIR lmlab train configs/lm/fast.jsonnet -s runs/mine   (DIR/train.txt, valid.txt, test.txt)
// benchmarks/time_to_quality.py races it against PyTorch's word_language_model example for the same time on
// several corpora; it sets the budget (trainer.num_epochs x data_loader.batches_per_epoch) to its minutes.
//
// What makes it fast (chosen on WikiText-2, issue 9; per-token costs, so they hold on any corpus):
//  * adaptive softmax (Grave et al., 2017): a 2,000-word head and two cheaper tail clusters instead of a
//    full softmax, which is most of the example's cost per token. The second cutoff is 6,000 (10,000 on
//    WikiText-2 in issue 9) so that a 10k-word vocabulary with a few words cut by a count threshold
//    (CoNLL-2000's and EWT's text: 9,700 and 9,900 words) still has a second tail: any vocabulary of more
//    than 6,000 words works. Per WikiText-2 token it costs about the same (the 4,000 words of the first
//    tail read 50-d, the rest 12-d);
//  * a sparse input embedding trained with lazy Adam ("dense_sparse_adam"): only the rows of the batch's
//    words are updated (the dense update was a quarter of a step on one core);
//  * one LSTM layer of 400 cells fed 200-d embeddings, projected back to 200 for the softmax: in short
//    runs one wide layer learns faster per second than two narrower ones (2 x 256 was far worse), and
//    LSTM 512 with 256-d embeddings was slightly worse in the same time;
//  * Adam at 5e-3 with a short warm-up and linear decay to zero at the end of the budget (1.5e-3 and 3e-3
//    were worse, 1e-2 no better); batches of 32 streams x 35 tokens (16 streams learn a little more per
//    token but cost 20% more time per token).
//
// What depends on the corpus's size is decided by the data and by validation, not by WikiText-2's size
// (issue 23: on a 0.9M-token corpus, 7.7 passes without validation at dropout 0.1 overfitted, ratio 1.21):
//  * when to validate: at the end of every pass over the training text (an epoch), so a small corpus is
//    validated as often as it is seen, and also every 1,000 batches (1.1M tokens, about half a pass of
//    WikiText-2) so a large one is validated within its passes. Cost, measured in a short run of the
//    benchmark on a loaded machine (both figures slowed alike): one validation of WikiText-2's 218k tokens
//    took 57 s against 0.87 s per training batch, so 1,000 batches and a validation take 6.6% longer than
//    the batches alone; CoNLL-2000's text (197 batches a pass, 25k validation tokens in 3.9 s): 2.3%;
//  * keep the best: the archive holds the weights of the best validation (best.th), not the last ones;
//  * when to anneal: the rate is divided by 4 (the example's factor) at every validation that does not
//    improve on the best, on top of the linear decay (linear_with_warmup's plateau_factor): on a large
//    corpus no validation stalls within a short budget and the decay alone anneals; on a small one the
//    rate drops as soon as it starts to overfit;
//  * when to stop: after 3 validations in a row without improvement (the rate is then 1/64 of the
//    schedule's: nothing more to gain), even inside an epoch. In a short run on 20k tokens of CoNLL-2000
//    (below) the best validation came at 62% of the batches, the rate was divided by 4 three times and the
//    run stopped at 136 of its 170 batches;
//  * how much to regularise: dropout 0.3 before the projection (issue 9 chose 0.1 for two passes over
//    WikiText-2). A budget of minutes is many passes over a small corpus, which then overfits, and that is
//    where dropout pays; WikiText-2 gets about 2.3 passes in 15 minutes and has the margin (ratio 0.389,
//    target 0.5). Short, noisy runs (benchmarks/time_to_quality.py --minutes 3 --corpora conll2000
//    --max-train-tokens N, on a 2-core machine loaded by other jobs): 20k tokens, 8-10 passes: validation
//    perplexity 459 at dropout 0.1, 451 at 0.3; 60k tokens, 3-5 passes: 307 and 269. Not measured yet:
//    0.3 on WikiText-2 for 15 minutes, and values above 0.3.
local data = std.native("extVarOr")("LM_DATA_DIR", std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2"));
local bptt = 35;
local batch_size = 32;
local eval_batch_size = 10;
local dim = 200;

local reader(streams) = {
  type: "contiguous_language_modeling",
  bptt: bptt,
  num_streams: streams,
  end_of_line_token: "<eos>",
};

{
  dataset_reader: reader(batch_size),
  validation_dataset_reader: reader(eval_batch_size),
  train_data_path: data + "/train.txt",
  validation_data_path: data + "/valid.txt",
  test_data_path: data + "/test.txt",
  evaluate_on_test: true,
  datasets_for_vocab_creation: ["train"],
  model: {
    type: "language_model",
    text_field_embedder: {token_embedders: {tokens: {type: "embedding", embedding_dim: dim, sparse: true}}},
    contextualizer: {type: "lstm", input_size: dim, hidden_size: 400},
    carry_hidden_state: true,
    dropout: 0.3,
    projection_dim: dim,
    softmax_loss: {type: "adaptive_softmax", cutoffs: [2000, 6000], div_value: 4.0},
  },
  // contiguous streams: row b of batch k+1 continues row b of batch k, so no shuffling
  data_loader: {batch_size: batch_size, shuffle: false},
  validation_data_loader: {batch_size: eval_batch_size, shuffle: false},
  trainer: {
    optimizer: {type: "dense_sparse_adam", lr: 0.005},
    learning_rate_scheduler: {type: "linear_with_warmup", warmup_steps: 100, plateau_factor: 0.25,
                              plateau_patience: 0},
    grad_norm: 1.0,
    // the budget: two passes over WikiText-2 take about 13 minutes on one core (5,400 tokens/s); on a
    // smaller corpus raise it (the decay spans it), validation stops the run when it stops improving
    num_epochs: 2,
    validate_every_n_batches: 1000,
    patience: 3,
    validation_metric: "-perplexity",
    log_every_n_batches: 100,
  },
}
