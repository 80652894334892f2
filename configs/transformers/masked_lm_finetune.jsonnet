// Fine-tune a pretrained masked LM (BERT, RoBERTa, ...) on text, one paragraph per line (WikiText-2 by default),
// with the cloze objective of configs/lm/wikitext2_mlm.jsonnet (15% of the pieces chosen, never the model's
// special tokens; 80/10/10 mask/random/keep) over the model's own pieces. AdamW, a lower learning rate for the
// transformer than for the output layer (parameter groups), linear warm-up then decay.
//   HF_MODEL=path/to/bert lmlab train configs/transformers/masked_lm_finetune.jsonnet -s runs/bert_wt2
// Perplexity is per masked piece.
local model = std.extVar("HF_MODEL");
local data = std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2");
local epochs = std.parseInt(std.native("extVarOr")("EPOCHS", "2"));
local pretrained = import "masked_lm.jsonnet";

pretrained + {
  dataset_reader+: {mask_probability: 0.15, replace_with_mask: 0.8, replace_with_random: 0.1, seed: 13},
  train_data_path: data + "/train.txt",
  validation_data_path: data + "/valid.txt",
  test_data_path: data + "/test.txt",
  evaluate_on_test: true,
  datasets_for_vocab_creation: ["train"],
  data_loader: {batch_size: 16, shuffle: true, bucket_by_length: true},
  validation_data_loader: {batch_size: 32, shuffle: false},
  trainer: {
    optimizer: {
      type: "adamw",
      lr: 1e-4,
      weight_decay: 0.01,
      parameter_groups: [[["_text_field_embedder\\..*transformer_model"], {lr: 3e-5}]],
    },
    learning_rate_scheduler: {type: "linear_with_warmup", warmup_steps: 500},
    grad_norm: 1.0,
    num_epochs: epochs,
    validation_metric: "-perplexity",
    log_every_n_batches: 100,
  },
}
