// A pretrained causal LM (GPT-2, ...) as lmlab's language_model, without training:
//   HF_MODEL=path/to/folder lmlab train configs/transformers/next_token_lm.jsonnet -s runs/gpt2
// (HF_MODEL, from the environment: a save_pretrained folder, or a hub name where the hub is reachable).
// The model's input embedding table embeds each token, its layers contextualise (stepping with their
// key/value cache when generating), and its output layer scores the next token. The archive carries the
// model's config and tokenizer files, so it predicts and serves after the folder is gone:
//   echo '{"sentence": "the cat sat on the", "top_k": 5}' | lmlab predict runs/gpt2/model.tar.gz -
//   lmlab serve runs/gpt2/model.tar.gz
local model = std.extVar("HF_MODEL");
local namespace = "transformer";
local end_token = std.native("extVarOr")("HF_END_TOKEN", "<|endoftext|>");
{
  dataset_reader: {
    type: "simple_language_modeling",
    tokenizer: {type: "pretrained_transformer", model_name: model},
    // word_starts: the model also reports perplexity per whitespace word ("word_perplexity")
    token_indexers: {tokens: {type: "pretrained_transformer", model_name: model, namespace: namespace,
                              word_starts: true}},
    // choosing the model's end-of-text token ends a continuation (as transformers' generate stops at EOS)
    end_tokens: [end_token],
  },
  vocabulary: {type: "from_pretrained_transformer", model_name: model, namespace: namespace},
  model: {
    type: "language_model",
    text_field_embedder: {token_embedders: {tokens: {type: "pretrained_transformer_embedding", model_name: model}}},
    contextualizer: {type: "pretrained_transformer", model_name: model},
    softmax_loss: {
      type: "language_model_head",
      language_model_head: {type: "pretrained_transformer", model_name: model, causal: true},
    },
    target_namespace: namespace,
  },
  trainer: {num_epochs: 0},
}
