// Backward LD-Net language model on WikiText-2: wikitext2_ldnet_forward.jsonnet reading every stream
// reversed (`reverse: true`), so it predicts each word from the words after it. A tagger uses the forward
// and the backward model together. One epoch (`-o '{"trainer.num_epochs": 1}'`): validation perplexity 224.6,
// test 206.7; four epochs: validation 148.2, test 136.6.
//   lmlab train configs/ldnet/wikitext2_ldnet_backward.jsonnet -s runs/ldnet_backward
local forward = import "wikitext2_ldnet_forward.jsonnet";

forward + {
  dataset_reader+: {reverse: true},
  validation_dataset_reader+: {reverse: true},
}
