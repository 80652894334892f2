// Overrides for `lmlab prune` on the LD-Net chunker (conll2000_tagger_ldnet.jsonnet): LD-Net's layer
// selection with its chunking settings, lambda_0 = 0.05 and a budget of lambda_1 = 2 layers (of the 12 of
// the two LMs), while the tagger keeps training on CoNLL-2000 (the archived config's data and optimizer).
// The checkpoint kept is the best dev F1 among those using at most 2 layers; then the other layers go.
// Measured (600 batches of layer selection, 8-epoch taggers): budget 2 kept [[], [3, 5]] of the 0.43-epoch LMs,
// features 5.9x faster, test F1 92.74 -> 92.25; with the one-epoch LMs budget 3 was not reached in 600 batches
// and budget 4 kept [[0, 5], [2, 5]], 3.5x faster, test F1 92.90 -> 92.19 (dev 92.56 -> 92.66).
//   lmlab prune runs/conll2000_ldnet/model.tar.gz -s runs/conll2000_pruned \
//       -o "$(cat configs/ldnet/conll2000_prune.jsonnet)"
{
  model: {layer_selection: {budget: 2, strength: 0.05}},
  trainer: {num_epochs: 20, patience: null, learning_rate_scheduler: null},
}
