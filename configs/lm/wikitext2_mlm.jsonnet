// Word-level masked language model (BERT-style cloze objective) on WikiText-2, one line per instance.
// WikiText-2 lines are paragraphs (median 74 tokens); 384 tokens keep 99.8% of the training text.
// BERT's masking: 15% of the tokens are chosen, of those 80% become [MASK], 10% a random token and
// 10% stay. The masks of a line are fixed by (seed, line number), so validation perplexity is
// comparable across epochs and `lmlab evaluate` reproduces it. A 2-layer bidirectional LSTM sees both
// sides of every position (it "peeks", which a masked LM may do: its inputs hide what it predicts);
// the output matrix is tied to the input embedding (dim 400 = 2 x 200).
//   lmlab train configs/lm/wikitext2_mlm.jsonnet -s runs/wt2_mlm
//   echo '{"sentence": "The [MASK] was released in 2011 ."}' | lmlab predict runs/wt2_mlm/model.tar.gz -
// Smoke test (a few batches):
//   lmlab train configs/lm/wikitext2_mlm.jsonnet -s /tmp/mlm -o '{"dataset_reader.max_instances": 200,
//     "trainer.num_epochs": 1, "validation_data_path": null, "test_data_path": null}'
local data = std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2");
local dim = 400;

{
  dataset_reader: {
    type: "masked_language_modeling",
    mask_probability: 0.15,
    replace_with_mask: 0.8,
    replace_with_random: 0.1,
    max_sequence_length: 384,
    seed: 13,
  },
  train_data_path: data + "/train.txt",
  validation_data_path: data + "/valid.txt",
  test_data_path: data + "/test.txt",
  evaluate_on_test: true,
  datasets_for_vocab_creation: ["train"],
  model: {
    type: "masked_language_model",
    text_field_embedder: {token_embedders: {tokens: {type: "embedding", embedding_dim: dim}}},
    contextualizer: {type: "lstm", input_size: dim, hidden_size: dim / 2, num_layers: 2, bidirectional: true,
                     dropout: 0.3},
    language_model_head: {type: "linear", input_dim: dim},
    tie_embeddings: true,
    dropout: 0.3,
    initializer: {regexes: [["_text_field_embedder.*weight", {type: "uniform", a: -0.1, b: 0.1}]]},
  },
  // similar lengths in a batch: less padding for the packed LSTM
  data_loader: {batch_size: 32, shuffle: true, bucket_by_length: true},
  trainer: {
    optimizer: {type: "adam", lr: 0.002},
    grad_norm: 1.0,
    num_epochs: 30,
    patience: 4,
    validation_metric: "-perplexity",
    checkpoint_every_n_batches: 500,
    log_every_n_batches: 50,
  },
}
