// Bidirectional LSTM LM on WikiText-2 with a sampled softmax (8,192 samples) for training; validation and
// `lmlab evaluate` score with the full softmax, so the perplexities are exact and comparable.
// Two independent LSTM stacks (forward and backward never see each other), projection and skip
// connections as in ELMo.
//   lmlab train configs/lm/wikitext2_bilm.jsonnet -s runs/wt2_bilm
local data = std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2");
local dim = 256;
{
  // contiguous 35-token windows in file order, shuffled; both directions are scored inside each window
  dataset_reader: {type: "contiguous_language_modeling", bptt: 35, end_of_line_token: "<eos>"},
  train_data_path: data + "/train.txt",
  validation_data_path: data + "/valid.txt",
  test_data_path: data + "/test.txt",
  evaluate_on_test: true,
  datasets_for_vocab_creation: ["train"],
  model: {
    type: "language_model",
    bidirectional: true,
    text_field_embedder: {token_embedders: {tokens: {type: "embedding", embedding_dim: dim}}},
    contextualizer: {
      type: "bidirectional_lm_lstm",
      input_size: dim,
      hidden_size: 1024,
      projection_dim: dim,
      num_layers: 2,
      dropout: 0.1,
      use_skip_connections: true,
    },
    dropout: 0.1,
    num_samples: 8192,
    sparse_embeddings: true,
  },
  data_loader: {batch_size: 32, shuffle: true},
  validation_data_loader: {batch_size: 64, shuffle: false},
  trainer: {
    optimizer: {type: "dense_sparse_adam", lr: 0.001},
    grad_norm: 10.0,
    num_epochs: 10,
    patience: 2,
    validation_metric: "-perplexity",
    checkpoint_every_n_batches: 500,
    log_every_n_batches: 20,
  },
}
