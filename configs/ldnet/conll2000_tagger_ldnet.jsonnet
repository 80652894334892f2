// conll2000_tagger.jsonnet plus LD-Net's contextual features: the dense outputs of the forward and backward
// WikiText-2 LD-Net language models (configs/ldnet/wikitext2_ldnet_{forward,backward}.jsonnet: 6 layers each,
// [embedding 200, 6 x 128] = 968 columns per LM), frozen, side by side and projected to 100 with a ReLU
// (LD-Net's `lm_seq`). The LM archives: LDNET_FORWARD_LM and LDNET_BACKWARD_LM (default runs/ldnet_forward
// and runs/ldnet_backward). The LMs see the words as they are (WikiText-2 keeps case), through their own
// vocabulary, with CoNLL-2000's Penn Treebank spellings turned into WikiText-2's (quotes, brackets, dashes,
// the split negation): 2.1% of the training tokens, which the LMs would read as OOV or as a rare word. Other
// words they do not know (8.2% of the tokens: rarer names, hyphenated words, fractions) are their OOV.
//   lmlab train configs/ldnet/conll2000_tagger_ldnet.jsonnet -s runs/conll2000_ldnet
// Then prune (configs/ldnet/conll2000_prune.jsonnet). Measured against conll2000_tagger.jsonnet, 20 epochs each,
// CoNLL-2000 test F1 (dev in brackets), two seeds:
//   one-epoch LMs (perplexity ~200), no aliases:   93.35 (93.70)                vs 93.37 (93.55)
//   four-epoch LMs (perplexity ~137), aliases:      93.25 (93.85), 93.64 (94.04)  vs 93.37 (93.55), 93.47 (93.77)
//   the same, each LM reading <eos> first (this config): 93.84 (93.88)
// Started from the zero state, which LMs trained on contiguous text never saw, the first words of every
// sentence get poor features; `context_token` gave +0.59 test F1 on the same seed.
local tagger = import "conll2000_tagger.jsonnet";
local lm_features = {
  type: "language_model_token_embedder",
  forward_archive: std.native("extVarOr")("LDNET_FORWARD_LM", "runs/ldnet_forward/model.tar.gz"),
  backward_archive: std.native("extVarOr")("LDNET_BACKWARD_LM", "runs/ldnet_backward/model.tar.gz"),
  mode: "concat",
  projection_dim: 100,
  dropout: 0.5,
  vocab_namespace: "lm_tokens",
  // the LMs were trained on contiguous text, lines ending in <eos>: a sentence starts after one
  context_token: "<eos>",
  // the frozen LMs' outputs of each sentence, computed once and reused every epoch and every validation
  // (7.6 KiB per token: 1.4 GiB for the training sentences, 0.2 GiB for the dev ones); exact, see
  // benchmarks/ldnet_epoch_time.py for the epoch time it saves
  feature_cache_mb: 2048,
  // Penn Treebank -> WikiText-2
  token_aliases: {"``": '"', "''": '"', "`": "'", "-LRB-": "(", "-RRB-": ")", "-LCB-": "(", "-RCB-": ")",
                  "--": "—", "n't": "not", wo: "will", ca: "can"},
};
local with_lm_tokens(reader) = reader + {token_indexers+: {lm_tokens: {type: "single_id", namespace: "lm_tokens"}}};

tagger + {
  dataset_reader: with_lm_tokens(tagger.dataset_reader),
  validation_dataset_reader: with_lm_tokens(tagger.validation_dataset_reader),
  model+: {
    text_field_embedder: {token_embedders: tagger.model.text_field_embedder.token_embedders + {lm_tokens: lm_features}},
    encoder+: {input_size: 300},
  },
}
