// Forward LD-Net language model on WikiText-2 (Liu et al., EMNLP 2018): a densely connected LSTM with
// layer-wise dropout ("ld_rnn"), its dense output [embedding, layer_1, ..., layer_L] projected to 256 with a
// ReLU, and an adaptive softmax over the frequency-sorted vocabulary. The language models a tagger reads
// (and that pruning shrinks): wikitext2_ldnet_backward.jsonnet is the same model reading the text backwards.
//
// Sizes for a 2-core CPU: embedding 200, 6 layers of 128 LSTM cells (layer l reads 200 + 128 l columns; the
// dense output is 200 + 6 x 128 = 968 wide), projection 256, adaptive softmax with a 2,000-word head and
// tails of 8,000 (projected to 64) and the rest (16): 10.3M parameters (6.7M of them in the embedding),
// about 4,000 tokens/s on both cores, 9 minutes an epoch. Measured: one epoch (`-o '{"trainer.num_epochs": 1}'`,
// the schedule then decays over that epoch) validation perplexity 219, test 201; four epochs (forward and
// backward side by side, one thread each, 2,700 tokens/s, 58 minutes) validation 149.3, test 137.8.
//   lmlab train configs/ldnet/wikitext2_ldnet_forward.jsonnet -s runs/ldnet_forward
local data = std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2");
local bptt = 35;
local batch_size = 32;
local eval_batch_size = 10;
local dim = 200;
local reverse = false;

local reader(streams) = {
  type: "contiguous_language_modeling",
  bptt: bptt,
  num_streams: streams,
  end_of_line_token: "<eos>",
  reverse: reverse,
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
    text_field_embedder: {token_embedders: {tokens: {type: "embedding", embedding_dim: dim}}},
    contextualizer: {type: "ld_rnn", unit: "lstm", input_size: dim, hidden_size: 128, num_layers: 6,
                     layer_dropout: 0.3, dropout: 0.1},
    carry_hidden_state: true,
    dropout: 0.1,
    projection_dim: 256,
    projection_activation: "relu",
    softmax_loss: {type: "adaptive_softmax", cutoffs: [2000, 10000], div_value: 4.0},
    // word vectors normal(0, 1), as these LMs were trained and measured (lmlab's "embedding" now starts
    // Xavier-uniform, as AllenNLP's; LD-Net's own draws U(-sqrt(3 / 200), sqrt(3 / 200)))
    initializer: {regexes: [["text_field_embedder.*weight", {type: "normal", std: 1.0}]]},
  },
  // contiguous streams: row b of batch k+1 continues row b of batch k, so no shuffling
  data_loader: {batch_size: batch_size, shuffle: false},
  validation_data_loader: {batch_size: eval_batch_size, shuffle: false},
  trainer: {
    optimizer: {type: "adam", lr: 0.002},
    learning_rate_scheduler: {type: "linear_with_warmup", warmup_steps: 200},
    grad_norm: 5.0,
    num_epochs: 8,
    validation_metric: "-perplexity",
    checkpoint_every_n_batches: 500,
    log_every_n_batches: 100,
  },
}
