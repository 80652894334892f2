// Overrides for `lmlab prune` on the LD-Net chunker (conll2000_tagger_ldnet.jsonnet): LD-Net's layer
// selection with its chunking strength, lambda_0 = 0.05, and a budget of lambda_1 = 3 layers (of the 12 of the
// two LMs), while the tagger keeps training on CoNLL-2000 (the archived config's data and optimizer) for 8
// rounds of 100 batches; the gates learn at 0.02 (the tagger keeps its 0.002) so that they settle in that time.
// The checkpoint kept is the best dev F1 among those using at most 3 layers; then the other layers go.
// Measured (one thread; test F1 of the tagger -> pruned, dev in brackets): one-epoch LMs, kept [[], [1, 5]], 8.9x
// fewer FLOPs, 6.1x faster features, 93.35 -> 93.04 (93.70 -> 93.29); four-epoch LMs, two seeds: kept [[0, 5], [1]]
// 93.25 -> 92.94 (93.85 -> 93.12) and kept [[], [1, 5]] 93.64 -> 92.75 (94.04 -> 93.31). The gates close
// together until the budget is met and then go on to 2-3 layers at budgets 3, 4 and 6 alike.
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
