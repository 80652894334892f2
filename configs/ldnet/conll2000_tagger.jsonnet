// BiLSTM-CRF chunker on CoNLL-2000 without language-model features (LD-Net's "no LM" baseline, without the
// GloVe vectors it used: they cannot be downloaded here; `pretrained_file` on the "tokens" embedding takes a
// local copy). Word embeddings 100 (lowercased words), a character BiLSTM (2 x 50), a word BiLSTM (2 x 150),
// dropout 0.5 and a CRF over BIOES tags (the files are BIO; the reader converts them, and the span F1 reads
// them as conlleval does).
//
// CoNLL-2000 has no development set: a fixed 1,000 sentences of train.txt, chosen with seed 2018, are held out
// (the reader's `dev_split`; the training reader gets the other 7,936). Test: test.txt (2,012 sentences).
//   lmlab train configs/ldnet/conll2000_tagger.jsonnet -s runs/conll2000_tagger
local data = std.native("extVarOr")("CONLL2000_DIR", "../shared/data/conll2000");
local reader(part) = {
  type: "conll",
  label_column: 2,
  coding_scheme: "BIO",
  convert_to_coding_scheme: "BIOES",
  token_indexers: {
    tokens: {type: "single_id", lowercase_tokens: true},
    token_characters: {type: "characters"},
  },
  dev_split: {source: data + "/train.txt", sentences: 1000, seed: 2018, part: part},
};

{
  dataset_reader: reader("train"),
  validation_dataset_reader: reader("dev"),
  train_data_path: data + "/train.txt",
  validation_data_path: data + "/train.txt",
  test_data_path: data + "/test.txt",
  evaluate_on_test: true,
  model: {
    type: "crf_tagger",
    label_encoding: "BIOES",
    text_field_embedder: {token_embedders: {
      tokens: {type: "embedding", embedding_dim: 100},
      token_characters: {type: "character_lstm", embedding_dim: 30, hidden_size: 50, dropout: 0.5},
    }},
    encoder: {type: "lstm", input_size: 200, hidden_size: 150, bidirectional: true},
    dropout: 0.5,
  },
  data_loader: {batch_size: 16, shuffle: true, bucket_by_length: true},
  validation_data_loader: {batch_size: 64, shuffle: false},
  trainer: {
    optimizer: {type: "adam", lr: 0.002},
    learning_rate_scheduler: {type: "reduce_on_plateau", factor: 0.5, patience: 2},
    grad_norm: 5.0,
    num_epochs: 40,
    patience: 6,
    validation_metric: "+f1-measure-overall",
    log_every_n_batches: 100,
  },
}
