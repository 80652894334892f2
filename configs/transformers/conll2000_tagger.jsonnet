// CRF chunker on a pretrained transformer's word features (AllenNLP's most used tagger): each CoNLL-2000 word
// is split into the model's pieces, the model runs over them ("pretrained_transformer_mismatched"), and each
// word's vector is its first piece's; a CRF over BIOES tags reads them directly (no LSTM). Fine-tuned with
// AdamW, a lower learning rate for the transformer than for the CRF's projection (parameter groups), linear
// warm-up then decay.
//   HF_MODEL=path/to/bert lmlab train configs/transformers/conll2000_tagger.jsonnet -s runs/conll2000_bert
// (HF_MODEL: a save_pretrained folder, or a hub name where the hub is reachable.) Dev/test split as
// configs/ldnet/conll2000_tagger.jsonnet: 1,000 held-out training sentences (seed 2018), test.txt.
local model = std.extVar("HF_MODEL");
local data = std.native("extVarOr")("CONLL2000_DIR", "../shared/data/conll2000");
local epochs = std.parseInt(std.native("extVarOr")("EPOCHS", "5"));
local reader(part) = {
  type: "conll",
  label_column: 2,
  coding_scheme: "BIO",
  convert_to_coding_scheme: "BIOES",
  token_indexers: {tokens: {type: "pretrained_transformer_mismatched", model_name: model}},
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
      tokens: {type: "pretrained_transformer_mismatched", model_name: model, pooling: "first"},
    }},
    dropout: 0.1,
  },
  data_loader: {batch_size: 16, shuffle: true, bucket_by_length: true},
  validation_data_loader: {batch_size: 64, shuffle: false},
  trainer: {
    optimizer: {
      type: "adamw",
      lr: 1e-3,
      weight_decay: 0.01,
      parameter_groups: [[["_text_field_embedder\\..*transformer_model"], {lr: 5e-5}]],
    },
    learning_rate_scheduler: {type: "linear_with_warmup", warmup_steps: 200},
    grad_norm: 1.0,
    num_epochs: epochs,
    validation_metric: "+f1-measure-overall",
    log_every_n_batches: 100,
  },
}
