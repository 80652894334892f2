// Overrides for `lmlab prune` on the LD-Net chunker (conll2000_tagger_ldnet.jsonnet): LD-Net's layer
// selection with its chunking strength, lambda_0 = 0.05, and a budget of lambda_1 = 3 layers (of the 12 of the
// two LMs), while the tagger keeps training on CoNLL-2000 (the archived config's data and optimizer) for 8
// rounds of 100 batches; the gates learn at 0.02 (the tagger keeps its 0.002) so that they settle in that time.
// The checkpoint kept is the best dev F1 among those using at most 3 layers; then the other layers go.
// Measured (benchmarks/ldnet_chunking.sh, one-epoch LMs, 20-epoch tagger, one thread): kept [[], [1, 5]] (two
// layers of the backward LM), contextual features 8.9x fewer FLOPs and 6.1x faster, test F1 93.35 -> 93.04
// (dev 93.70 -> 93.29). Budget 4 kept the same layers (test 92.93).
//   lmlab prune runs/conll2000_ldnet/model.tar.gz -s runs/conll2000_pruned \
//       -o "$(cat configs/ldnet/conll2000_prune.jsonnet)"
{
  model: {layer_selection: {budget: 3, strength: 0.05}},
  data_loader: {batches_per_epoch: 100},
  trainer: {
    num_epochs: 8,
    patience: null,
    learning_rate_scheduler: null,
    optimizer: {parameter_groups: [[["gates"], {lr: 0.02}]]},
  },
}
