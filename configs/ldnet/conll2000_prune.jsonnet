// Overrides for `lmlab prune` on the LD-Net chunker (conll2000_tagger_ldnet.jsonnet): LD-Net's pruning recipe,
// as its prune_sparse_seq.py runs it (read from LiyuanLucasLiu/LD-Net):
//   - objective: the CRF's NLL per sentence + lambda_0 (sum z(1 - z) + the sum of the non-zero z while more than
//     lambda_1 are non-zero), lambda_0 = 0.05 (`seq_lambda0`); a crf_tagger with layer_selection returns that
//     per-sentence loss, so `strength` is LD-Net's lambda_0 as it is;
//   - budget lambda_1 = 3 layers (`seq_lambda1`, LD-Net's default) of the two LMs' 12, counted over both;
//   - every trainable parameter (tagger and gates) by SGD with momentum 0.9 at lr 0.015, decayed after each
//     epoch e to 0.015 / (1 + 0.05 e) ("inverse_time"), gradient norm clipped at 5, batches of 10 sentences;
//   - the gates clipped into [0, 1] after every step (`lmlab prune` adds the "clip_gates" callback);
//   - kept: the epoch with the best dev F1 among those within the budget (`lmlab prune` selects by
//     f1-measure-within-budget, which is 0 over the budget).
// Deviations: LD-Net runs up to 100 epochs with a patience of 5 counted only once the budget is met; lmlab's
// patience would count the epochs before it too, so `lmlab prune` drops the tagger's patience and plateau
// schedule (and refuses them in overrides), and this recipe runs a fixed 10 epochs instead (not yet measured
// against LD-Net's longer run). The tagger's dropout stays as it trained; LD-Net also keeps dropout inside
// its LMs while pruning, which lmlab's frozen LMs never run.
// The previous recipe (Adam, gates at lr 0.02, 8 x 100 batches, lambda_0 against the NLL per token: about 24
// times LD-Net's on CoNLL-2000's 23.7 tokens per sentence) closed the gates in lockstep to 2-3 layers whatever
// the budget (3, 4 or 6) and lost 0.3-0.9 test F1.
// Gates on a smoke run (a tagger of 300 training sentences on 1-epoch LMs of 6,000 WikiText-2 lines, budget 3):
// the previous recipe (emulated: Adam, lambda_0 x 23.7) had 12, 12, 4, 4, 4, 4, 4, 4 open after epochs of 19
// batches (8 closed within one epoch, then stuck over the budget); this one moved them to 0.85-1.0 in 240 steps,
// the backward LM's top layers lowest, and closed none. Its 10 full epochs (about 7,900 steps) are not measured.
//   lmlab prune runs/conll2000_ldnet/model.tar.gz -s runs/conll2000_pruned \
//       -o "$(cat configs/ldnet/conll2000_prune.jsonnet)"
{
  model: {layer_selection: {budget: 3, strength: 0.05}},
  data_loader: {batch_size: 10},
  trainer: {
    num_epochs: 10,
    optimizer: {type: "sgd", lr: 0.015, momentum: 0.9},
    learning_rate_scheduler: {type: "inverse_time", decay: 0.05},
    grad_norm: 5.0,
  },
}
