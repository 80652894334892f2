// Word-level LSTM LM on WikiText-2, set up like PyTorch's word_language_model example:
// embedding 200, 2-layer LSTM 200, bptt 35, batch 20 (contiguous streams, hidden state carried across
// windows), full softmax over the whole training vocabulary, SGD lr 20 with gradient-norm clipping 0.25.
//   lmlab train configs/lm/wikitext2_lstm.jsonnet -s runs/wt2
local data = std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2");
local bptt = 35;
local batch_size = 20;
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
    text_field_embedder: {token_embedders: {tokens: {type: "embedding", embedding_dim: dim}}},
    contextualizer: {type: "lstm", input_size: dim, hidden_size: dim, num_layers: 2, dropout: 0.2},
    dropout: 0.2,
    carry_hidden_state: true,
    initializer: {regexes: [["_text_field_embedder.*weight", {type: "uniform", a: -0.1, b: 0.1}]]},
  },
  // Contiguous streams: row b of batch k+1 continues row b of batch k, so no shuffling.
  data_loader: {batch_size: batch_size, shuffle: false},
  validation_data_loader: {batch_size: eval_batch_size, shuffle: false},
  trainer: {
    optimizer: {type: "sgd", lr: 20.0},
    learning_rate_scheduler: {type: "reduce_on_plateau", factor: 0.25, patience: 0},
    grad_norm: 0.25,
    num_epochs: 40,
    validation_metric: "-perplexity",
    checkpoint_every_n_batches: 500,
    log_every_n_batches: 50,
  },
}
