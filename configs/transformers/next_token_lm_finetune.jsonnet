// Fine-tune a pretrained causal LM (GPT-2, ...) on text, one paragraph per line (WikiText-2 by default), as
// configs/transformers/next_token_lm.jsonnet builds it, with the output layer tied to the input table as the
// pretrained model ties them. AdamW, a lower learning rate for the transformer layers (parameter groups),
// linear warm-up then decay. Perplexity is per piece, and "word_perplexity" per whitespace word (the same
// total log-likelihood over the paragraph's words and end tokens), comparable with lmlab's word-level LMs.
//   HF_MODEL=path/to/gpt2 lmlab train configs/transformers/next_token_lm_finetune.jsonnet -s runs/gpt2_wt2
local model = std.extVar("HF_MODEL");
local data = std.native("extVarOr")("WIKITEXT2_DIR", "../shared/data/wikitext-2");
local epochs = std.parseInt(std.native("extVarOr")("EPOCHS", "2"));
local pretrained = import "next_token_lm.jsonnet";

pretrained + {
  dataset_reader+: {tokenizer+: {max_length: 512}},
  train_data_path: data + "/train.txt",
  validation_data_path: data + "/valid.txt",
  test_data_path: data + "/test.txt",
  evaluate_on_test: true,
  datasets_for_vocab_creation: ["train"],
  model+: {tie_embeddings: true, dropout: 0.0},
  data_loader: {batch_size: 8, shuffle: true, bucket_by_length: true},
  validation_data_loader: {batch_size: 16, shuffle: false},
  trainer: {
    optimizer: {
      type: "adamw",
      lr: 1e-4,
      weight_decay: 0.01,
      parameter_groups: [[["_contextualizer\\.transformer_model"], {lr: 3e-5}]],
    },
    learning_rate_scheduler: {type: "linear_with_warmup", warmup_steps: 500},
    grad_norm: 1.0,
    num_epochs: epochs,
    validation_metric: "-perplexity",
    log_every_n_batches: 100,
  },
}
