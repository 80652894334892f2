// A small ELMo trained from scratch on WikiText-2: a bidirectional character-input language model with
// bilm-tf's architecture (Peters et al., 2018) at reduced sizes. Each line is one instance (WikiText-2
// lines are paragraphs, median 74 tokens; cut at 128), framed by <S> ... </S>. The input is the 50 ELMo
// character ids of every token (char CNN -> 2 highways -> projection to 256); the contextualizer is two
// independent 2-layer LSTM stacks (cell 1024, projection 256, cell/projection clip 3, skip connection);
// the loss is a sampled softmax over the word vocabulary (exact softmax in evaluation).
//   lmlab train configs/lm/wikitext2_elmo.jsonnet -s runs/wt2_elmo
//   lmlab export_elmo runs/wt2_elmo/model.tar.gz --options-file elmo_options.json --weight-file elmo_weights.hdf5
//   lmlab elmo sentences.txt vectors.hdf5 --archive runs/wt2_elmo/model.tar.gz --top
// The exported files work wherever pretrained ELMo files do ("elmo_token_embedder", `lmlab elmo`).
// The LSTM cells are stepped in Python (cuDNN has no projection clipping): train on a GPU.
// Smoke test (one batch; a few minutes on 2 CPU cores; a small vocabulary needs fewer samples):
//   lmlab train configs/lm/wikitext2_elmo.jsonnet -s /tmp/elmo -o '{"dataset_reader.max_instances": 64,
//     "trainer.num_epochs": 1, "validation_data_path": null, "test_data_path": null, "model.num_samples": 512}'
local data = std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2");
local dim = 256;  // token vectors = LSTM projections (bilm-tf's single lstm.projection_dim)

{
  dataset_reader: {
    type: "simple_language_modeling",
    start_tokens: ["<S>"],
    end_tokens: ["</S>"],
    max_sequence_length: 130,
    token_indexers: {
      elmo_characters: {type: "elmo_characters"},  // the model's input
      tokens: {type: "single_id"},                 // the targets only (not embedded)
    },
  },
  train_data_path: data + "/train.txt",
  validation_data_path: data + "/valid.txt",
  test_data_path: data + "/test.txt",
  evaluate_on_test: true,
  datasets_for_vocab_creation: ["train"],
  model: {
    type: "language_model",
    bidirectional: true,
    text_field_embedder: {
      token_embedders: {
        elmo_characters: {
          type: "elmo_character_encoder",
          embedding_dim: 16,
          filters: [[1, 32], [2, 32], [3, 64], [4, 128], [5, 256], [6, 512]],
          num_highway: 2,
          projection_dim: dim,
        },
      },
      allow_unmatched_keys: true,  // the "tokens" ids are in the batch for the targets only
    },
    contextualizer: {
      type: "elmo_lstm",
      input_size: dim,
      hidden_size: 1024,
      projection_dim: dim,
      num_layers: 2,
      cell_clip: 3.0,
      proj_clip: 3.0,
      use_skip_connections: true,
      dropout: 0.1,
    },
    dropout: 0.1,
    num_samples: 8192,
  },
  // similar lengths in a batch: the LSTMs step over the longest row of each batch
  data_loader: {batch_size: 64, shuffle: true, bucket_by_length: true},
  validation_data_loader: {batch_size: 64, shuffle: false, bucket_by_length: true},
  trainer: {
    optimizer: {type: "adam", lr: 0.001},
    grad_norm: 10.0,
    num_epochs: 10,
    patience: 3,
    validation_metric: "-perplexity",
    checkpoint_every_n_batches: 500,
    log_every_n_batches: 50,
  },
}
