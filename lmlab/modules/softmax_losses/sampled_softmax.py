"""`sampled_softmax`: a softmax over the targets and a few sampled words, for large vocabularies."""
import math
from typing import Any, Optional, Tuple

import torch
from torch.autograd.function import FunctionCtx
from torch.nn import functional as F

from lmlab.common.constraints import PositiveInt
from lmlab.common.errors import ConfigurationError
from lmlab.modules.softmax_losses.linear_cross_entropy import linear_cross_entropy
from lmlab.modules.softmax_losses.softmax_loss import SoftmaxLoss
from lmlab.modules.util import claim_single_backward


class LogUniformSampler(torch.nn.Module):
    """Draws `num_samples` distinct ids from the log-uniform (Zipfian) distribution over [0, V).

    Not registered: the candidate sampler of `SampledSoftmaxLoss`.

    Parameters
        num_words: int      V.
        num_samples: int    S, with S < V.
    Inputs
        `sample()` takes no input; it draws on the device of the module's buffers.
    Outputs
        `sample()`: ids (S,) long, distinct; log_threshold: scalar float (see Notes).
        `log_expected_count(ids, log_threshold)`: (...) float, log pi_k for ids of any shape.
    Notes
        P(k) = (log(k + 2) - log(k + 1)) / log(V + 1): id 0 is the most likely, which fits vocabularies
        whose ids are sorted by decreasing frequency (lmlab's are, after the padding and OOV ids).

        Sampling without replacement is done exactly and without loops by an exponential race
        (equivalently, Gumbel top-k): every id gets an arrival time E_k / P(k) with E_k ~ Exp(1), and
        the S earliest arrivals are the sample. This is the same distribution as drawing with
        replacement and discarding repeats until S distinct ids are found (TensorFlow's
        `log_uniform_candidate_sampler(unique=True)`), but with a fixed amount of work: one (V,) draw
        and a top-k, no data-dependent loop and no host-device sync.

        Expected counts. TensorFlow estimates the inclusion probability of id k as
        1 - (1 - P(k))^num_tries. We use the order-sampling equivalent, pi_k = 1 - exp(-P(k) * tau),
        where tau is the (S+1)-th earliest arrival time of this draw (`log_threshold` = log tau). For an
        id in the sample, pi_k is exactly its probability of being sampled given the other ids' arrival
        times, so `sum over sampled k of f(k) / pi_k` is an unbiased estimate of `sum over all k of
        f(k)` (the classical argument for priority / order sampling; tested in
        tests/modules/softmax_losses/test_sampled_softmax.py).
    """

    log_probabilities: torch.Tensor  # (V,) buffer

    def __init__(self, num_words: int, num_samples: PositiveInt) -> None:
        super().__init__()
        if not num_samples < num_words:  # run time: num_words is the vocabulary size
            raise ConfigurationError(f"must be in [1, num_words - 1] = [1, {num_words - 1}], found {num_samples}",
                                     "num_samples")
        self.num_words = num_words
        self.num_samples = num_samples
        ids = torch.arange(num_words, dtype=torch.float64)
        log_p = torch.log(torch.log1p(1.0 / (ids + 1.0)) / math.log(num_words + 1.0))  # (V,)
        # derived from V alone, so not saved in checkpoints; moves with `.to(device)`
        self.register_buffer("log_probabilities", log_p.float(), persistent=False)

    def sample(self) -> Tuple[torch.Tensor, torch.Tensor]:
        log_p = self.log_probabilities.float()  # (V,)
        log_arrival = torch.empty_like(log_p).exponential_().log_() - log_p  # (V,)
        earliest, ids = torch.topk(log_arrival, self.num_samples + 1, largest=False, sorted=True)  # (S+1,)
        return ids[:self.num_samples], earliest[self.num_samples]

    def log_expected_count(self, ids: torch.Tensor, log_threshold: torch.Tensor) -> torch.Tensor:
        """log pi_k = log(1 - exp(-P(k) * tau)) for each id."""
        rate = torch.exp(self.log_probabilities.float()[ids] + log_threshold)  # P(k) * tau
        return torch.log(-torch.expm1(-rate))

    def extra_repr(self) -> str:
        return f"num_words={self.num_words}, num_samples={self.num_samples}"


@SoftmaxLoss.register("sampled_softmax")
class SampledSoftmaxLoss(SoftmaxLoss):
    """Sampled softmax (Jean et al., 2015) with log-uniform negatives; the exact softmax in `eval()`.

    Registered as a `SoftmaxLoss` with name "sampled_softmax".

    Parameters
        num_words: int             V (run time).
        embedding_dim: int         D (run time).
        num_samples: int           S < V negative ids drawn (without replacement) per forward call,
                                   shared by all N rows.
        sparse: bool = False       sparse gradients for the output weights and biases: only the rows of
                                   the targets and the sampled ids get a gradient. Train them with a
                                   sparse-capable optimizer: "dense_sparse_adam" (lazy Adam: only those
                                   rows' moments and values move), "sgd", "adagrad". The recommended way:
                                   with V = 33k, D = 200, S = 1,024 and a 2 x 200 LSTM, a training step is
                                   about 1.3x faster than dense gradients with (fused) "adam", which must
                                   write a zero-filled (V, D) gradient and update every row every step.
        unk_id: Optional[int] = None   if given, a sampled `unk_id` is dropped like an accidental hit, so
                                   the catch-all OOV row is never pushed down as a negative.
        remove_accidental_hits: bool = True   a sampled id equal to a row's target is dropped from that
                                   row's softmax.
    Inputs
        forward: embeddings (N, D) float, targets (N,) long.  log_probs: embeddings (..., D).
    Outputs
        forward: scalar sum of the N negative log-likelihoods; in training, of the sampled softmax over
        {target} + samples; in `eval()`, the exact full-softmax NLL with the same weights.
        log_probs: (..., V) exact full-vocabulary log-probabilities.
    Attributes
        weight: (V, D) Parameter;  bias: (V, 1) Parameter (2-D so that it can have sparse gradients).
        sampler: `LogUniformSampler`.
    Notes
        Logits of the target and of every sample are corrected by subtracting log pi_k, the log of
        the expected count of k under the sampler (TensorFlow's `subtract_log_q`); see
        `LogUniformSampler` for how pi_k is computed. The training loss is then a biased but
        consistent estimate of the full loss (it tends to it as S -> V), and its gradient
        approximates the full softmax gradient at O(N * S * D) cost instead of O(N * V * D).
        With `sparse` and `tie_weights`, make the tied input embedding sparse too: a dense gradient
        from the other side would turn the summed gradient dense.
        Sampling runs on the embeddings' device with the global generator (seed it for reproducible
        draws), without loops over rows. The training loss is one autograd function (`_SampledSoftmaxNll`):
        the (N, S) logits are made by one matmul with their offsets, turned into exponentials in place and,
        in the backward pass, into their gradient in place; the weight and bias gradients are built once,
        from the N+S looked-up rows (dense: one zero-filled (V, D) tensor; sparse: those rows).
        In `eval()` the full loss is computed in chunks of rows so that no more than about 2^25 logits exist
        at once, each by `linear_cross_entropy`, the function `softmax` computes its loss with: a batch of
        one chunk gets the same bits as "softmax" with the same weights, on every CPU kernel.
    Example
        >>> import torch
        >>> from lmlab.modules.softmax_losses import SoftmaxLoss
        >>> loss = SoftmaxLoss.from_params({"type": "sampled_softmax", "num_samples": 3}, num_words=10,
        ...                                embedding_dim=4)
        >>> embeddings, targets = torch.randn(6, 4), torch.tensor([1, 2, 3, 4, 5, 6])
        >>> loss(embeddings, targets).shape  # training: each target against 3 sampled words, summed
        torch.Size([])
        >>> full = loss.eval()(embeddings, targets)  # evaluation: the full softmax
        >>> bool(full.allclose(-loss.log_probs(embeddings).gather(1, targets[:, None]).sum()))
        True
    """

    def __init__(self, num_words: int, embedding_dim: int, num_samples: int, sparse: bool = False,
                 unk_id: Optional[int] = None, remove_accidental_hits: bool = True) -> None:
        super().__init__()
        self.num_words = num_words
        self.embedding_dim = embedding_dim
        self.num_samples = num_samples
        self.sparse = sparse
        self.unk_id = unk_id
        self.remove_accidental_hits = remove_accidental_hits
        self.sampler = LogUniformSampler(num_words, num_samples)
        self.weight = torch.nn.Parameter(torch.empty(num_words, embedding_dim))
        self.bias = torch.nn.Parameter(torch.empty(num_words, 1))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.weight.normal_(0.0, self.embedding_dim ** -0.5)
            self.bias.zero_()

    def forward(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return self._full_nll(embeddings, targets)
        sampled_ids, log_threshold = self.sampler.sample()  # (S,), (); on the buffers' (= weights') device
        all_ids = torch.cat([targets, sampled_ids])  # (N+S,)
        log_expected_counts = self.sampler.log_expected_count(all_ids, log_threshold)  # (N+S,)
        dropped = None
        if self.remove_accidental_hits:
            dropped = targets.unsqueeze(1) == sampled_ids.unsqueeze(0)  # (N, S)
        if self.unk_id is not None:
            is_unk = (sampled_ids == self.unk_id).unsqueeze(0)  # (1, S)
            dropped = is_unk if dropped is None else dropped | is_unk
        return _SampledSoftmaxNll.apply(embeddings, self.weight, self.bias, all_ids, log_expected_counts, dropped,
                                        self.sparse)

    def _full_nll(self, embeddings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        rows_per_chunk = max(1, (1 << 25) // self.num_words)
        total = embeddings.new_zeros(())
        for chunk, chunk_targets in zip(embeddings.split(rows_per_chunk), targets.split(rows_per_chunk), strict=False):
            total = total + linear_cross_entropy(chunk, self.weight, self.bias.squeeze(1), chunk_targets)
        return total

    def log_probs(self, embeddings: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(F.linear(embeddings, self.weight, self.bias.squeeze(1)), dim=-1)  # (..., V)

    def extra_repr(self) -> str:
        return (f"num_words={self.num_words}, embedding_dim={self.embedding_dim}, num_samples={self.num_samples}, "
                f"sparse={self.sparse}, remove_accidental_hits={self.remove_accidental_hits}")


class _SampledSoftmaxNll(torch.autograd.Function):
    """Summed NLL of each row's target against the targets' and the S samples' corrected logits.

    forward(embeddings (N, D), weight (V, D), bias (V, 1), ids (N+S,) = targets then samples,
    log_expected_counts (N+S,), dropped: (N, S) or (1, S) bool or None, sparse: bool) -> scalar.
    The logit of row n for id k is `embeddings[n] . weight[k] + bias[k] - log_expected_counts[k]`; row n's
    softmax is over its target and the samples not `dropped` for it. Differentiable once (the saved
    exponentials become the gradient in place).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, embeddings: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                ids: torch.Tensor, log_expected_counts: torch.Tensor, dropped: Optional[torch.Tensor],
                sparse: bool) -> torch.Tensor:
        num_rows = embeddings.shape[0]
        rows = weight.index_select(0, ids)  # (N+S, D)
        offsets = bias.view(-1).index_select(0, ids) - log_expected_counts.to(bias.dtype)  # (N+S,)
        true_rows, sampled_rows = rows.split([num_rows, len(ids) - num_rows])  # (N, D), (S, D)
        # one matmul adds the offsets; under autocast it runs in the autocast dtype
        sampled_logits = torch.addmm(offsets[num_rows:], embeddings, sampled_rows.t())  # (N, S)
        matmul_dtype = sampled_logits.dtype
        if matmul_dtype in (torch.float16, torch.bfloat16):
            sampled_logits = sampled_logits.float()
        true_logits = torch.linalg.vecdot(true_rows.to(sampled_logits.dtype), embeddings.to(sampled_logits.dtype))
        true_logits = true_logits + offsets[:num_rows].to(sampled_logits.dtype)  # (N,)
        if dropped is not None:
            sampled_logits.masked_fill_(dropped, float("-inf"))
        maxima = torch.maximum(sampled_logits.amax(dim=1), true_logits)  # (N,)
        exponentials = sampled_logits.sub_(maxima.unsqueeze(1)).exp_()  # (N, S), in the logits' memory
        true_exponentials = (true_logits - maxima).exp_()  # (N,)
        sums = exponentials.sum(dim=1).add_(true_exponentials)  # (N,)
        ctx.save_for_backward(embeddings, rows, ids, exponentials, true_exponentials, sums)
        ctx.shapes = (weight.shape, bias.shape)  # type: ignore[attr-defined]
        ctx.sparse = sparse  # type: ignore[attr-defined]
        ctx.matmul_dtype = matmul_dtype  # type: ignore[attr-defined]
        ctx.used = False  # type: ignore[attr-defined]
        return (maxima + sums.log() - true_logits).sum()

    @staticmethod
    def backward(ctx: Any, grad_output: torch.Tensor) -> Tuple[Optional[torch.Tensor], ...]:
        claim_single_backward(ctx, "the sampled softmax")
        embeddings, rows, ids, exponentials, true_exponentials, sums = ctx.saved_tensors
        num_rows = embeddings.shape[0]
        scale = grad_output.to(exponentials.dtype)
        inverse = scale / sums  # (N,)
        # d loss / d logits: softmax times the output gradient (samples), the same minus it (targets)
        gradient = exponentials.mul_(inverse.unsqueeze(1)).to(ctx.matmul_dtype)  # (N, S)
        true_gradient = (true_exponentials * inverse - scale).unsqueeze(1)  # (N, 1)
        true_rows, sampled_rows = rows.split([num_rows, len(ids) - num_rows])
        grad_embeddings = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_embeddings = torch.addmm((true_gradient * true_rows).to(ctx.matmul_dtype), gradient,
                                          sampled_rows.to(ctx.matmul_dtype)).to(embeddings.dtype)  # (N, D)
        weight_shape, bias_shape = ctx.shapes
        if ctx.needs_input_grad[1]:
            grad_rows = torch.cat([true_gradient * embeddings,
                                   gradient.t().mm(embeddings.to(ctx.matmul_dtype)).to(embeddings.dtype)])
            grad_weight = _scatter_rows(ids, grad_rows.to(rows.dtype), weight_shape, ctx.sparse)  # (V, D)
        if ctx.needs_input_grad[2]:
            grad_offsets = torch.cat([true_gradient.squeeze(1), gradient.sum(dim=0).to(true_gradient.dtype)])
            grad_bias = _scatter_rows(ids, grad_offsets.unsqueeze(1).to(rows.dtype), bias_shape, ctx.sparse)
        return grad_embeddings, grad_weight, grad_bias, None, None, None, None


def _scatter_rows(ids: torch.Tensor, values: torch.Tensor, shape: torch.Size, sparse: bool) -> torch.Tensor:
    """The gradient of a (V, ...) table from the gradients `values` (K, ...) of its rows `ids` (K,), repeats
    summed: a sparse tensor with those K rows (uncoalesced, as `F.embedding(sparse=True)` gives) or dense."""
    if sparse:
        return torch.sparse_coo_tensor(ids.unsqueeze(0), values, shape, check_invariants=False)
    return values.new_zeros(shape).index_add_(0, ids, values)
