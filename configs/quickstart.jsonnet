// A small word-level LSTM language model on the bundled tiny corpus: trains in well under a minute on CPU.
//   lmlab train configs/quickstart.jsonnet -s runs/quickstart
// Paths are relative to the working directory (the repository root), unless LMLAB_FIXTURES is set.
local data = std.native("extVarOr")("LMLAB_FIXTURES", "fixtures");
{
  dataset_reader: {
    type: "simple_language_modeling",
    start_tokens: ["<s>"],
    end_tokens: ["</s>"],
    max_sequence_length: 64,
  },
  train_data_path: data + "/data/tiny_lm/train.txt",
  validation_data_path: data + "/data/tiny_lm/valid.txt",
  test_data_path: data + "/data/tiny_lm/test.txt",
  evaluate_on_test: true,
  model: {
    type: "language_model",
    text_field_embedder: {token_embedders: {tokens: {type: "embedding", embedding_dim: 32}}},
    contextualizer: {type: "lstm", input_size: 32, hidden_size: 64, num_layers: 1},
    dropout: 0.1,
  },
  data_loader: {batch_size: 16, shuffle: true, bucket_by_length: true},
  trainer: {
    optimizer: {type: "adam", lr: 0.01},
    num_epochs: 8,
    grad_norm: 5.0,
    validation_metric: "-perplexity",
  },
}
