// A pretrained masked LM (BERT, RoBERTa, ...) as lmlab's masked_language_model, without training:
//   HF_MODEL=path/to/folder lmlab train configs/transformers/masked_lm.jsonnet -s runs/mlm
// (HF_MODEL, from the environment: a save_pretrained folder, or a hub name where the hub is reachable).
// The archive carries the model's config and tokenizer files, so it predicts after the folder is gone:
//   echo '{"sentence": "the cat sat on the [MASK] ."}' | lmlab predict runs/mlm/model.tar.gz -
local model = std.extVar("HF_MODEL");
local namespace = "transformer";
{
  dataset_reader: {
    type: "masked_language_modeling",
    tokenizer: {type: "pretrained_transformer", model_name: model},
    token_indexers: {tokens: {type: "pretrained_transformer", model_name: model, namespace: namespace}},
  },
  vocabulary: {type: "from_pretrained_transformer", model_name: model, namespace: namespace},
  model: {
    type: "masked_language_model",
    text_field_embedder: {token_embedders: {tokens: {type: "pretrained_transformer", model_name: model}}},
    language_model_head: {type: "pretrained_transformer", model_name: model, causal: false},
    target_namespace: namespace,
  },
  trainer: {num_epochs: 0},
}
