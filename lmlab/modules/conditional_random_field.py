"""`ConditionalRandomField`: a linear-chain CRF with a batched forward algorithm and batched Viterbi."""
from typing import Optional, Sequence, Tuple

import torch

from lmlab.modules.util import sequence_lengths


class ConditionalRandomField(torch.nn.Module):
    """Scores tag sequences as emissions + transitions (+ start and end scores), normalised over all paths.

    Not registered: a building block (of "crf_tagger"), usable on its own.

    Parameters
        num_tags: int                      K.
        constraints: Optional[Sequence[Sequence[bool]]] = None
                                           (K + 2) x (K + 2) table of allowed transitions, row = tag before,
                                           column = tag after, index K = sentence start, K + 1 = sentence
                                           end (`lmlab.data.label_codings.allowed_transitions` makes one
                                           from a label coding). Decoding never uses a forbidden
                                           transition; the likelihood ignores the table (as AllenNLP's
                                           CRF does), so ill-formed gold sequences still train.
        include_start_end_transitions: bool = True   learn a score for each tag at the start and at the
                                           end of a sentence; False: those scores are 0.
    Inputs
        logits: (B, T, K) float emission scores; mask: (B, T) bool, True = token, padding only at the end
        of a row; tags: (B, T) long gold tags (any value where mask is False).
    Outputs
        `forward(logits, tags, mask)`: (B,) log-likelihood of each row's tags (0 for a row without tokens).
        `log_partition(logits, mask)`: (B,) log of the sum over all tag sequences of exp(score).
        `score(logits, tags, mask)`: (B,) unnormalised score of the given tags.
        `viterbi_decode(logits, mask, top_k=None)`: (tags (B, T) long, scores (B,)) for the best
        path of each row; with `top_k=k`: (tags (B, k, T), scores (B, k)), best first. Tags are 0
        where mask is False; a row without tokens gets score 0. When a row has fewer than k allowed
        paths, the missing ones have score -inf (and meaningless tags). A batch with T = 0 (or B = 0) is
        answered with empty tags (B, T) / (B, k, T) and zero scores, like rows without tokens.
    Attributes
        transitions: (K, K) score of tag i followed by tag j; start_transitions, end_transitions: (K,).
    Notes
        Computed in float32 for half-precision logits (bf16 autocast), else in the logits' dtype. Both
        recursions loop over time steps only. The forward pass of Viterbi keeps only scores; the backtrace
        recomputes each step's best predecessors for the chosen tags, for every row and every k-best path
        at once, with no host-device synchronisation.
    """

    start_transitions: torch.Tensor
    end_transitions: torch.Tensor
    allowed: torch.Tensor

    def __init__(self, num_tags: int, constraints: Optional[Sequence[Sequence[bool]]] = None,
                 include_start_end_transitions: bool = True) -> None:
        super().__init__()
        if num_tags < 1:
            raise ValueError(f"expected at least one tag, found num_tags={num_tags}")
        self.num_tags = num_tags
        self.include_start_end_transitions = include_start_end_transitions
        self.transitions = torch.nn.Parameter(torch.empty(num_tags, num_tags))
        if include_start_end_transitions:
            self.start_transitions = torch.nn.Parameter(torch.empty(num_tags))
            self.end_transitions = torch.nn.Parameter(torch.empty(num_tags))
        else:
            self.register_buffer("start_transitions", torch.zeros(num_tags), persistent=False)
            self.register_buffer("end_transitions", torch.zeros(num_tags), persistent=False)
        allowed = torch.ones(num_tags + 2, num_tags + 2, dtype=torch.bool)
        if constraints is not None:
            allowed = torch.tensor([list(row) for row in constraints], dtype=torch.bool)
            if allowed.shape != (num_tags + 2, num_tags + 2):
                raise ValueError(f"expected a {num_tags + 2} x {num_tags + 2} table of allowed transitions "
                                 f"(K + 2 for K = {num_tags} tags), found shape {tuple(allowed.shape)}")
        self.register_buffer("allowed", allowed, persistent=False)  # (K + 2, K + 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        torch.nn.init.xavier_normal_(self.transitions)
        if self.include_start_end_transitions:
            torch.nn.init.normal_(self.start_transitions)
            torch.nn.init.normal_(self.end_transitions)

    # --- likelihood ----------------------------------------------------------------------------------
    def forward(self, logits: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.score(logits, tags, mask) - self.log_partition(logits, mask)

    def log_partition(self, logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = _full_precision(logits)
        if logits.size(1) == 0:  # no row has a token
            return logits.new_zeros(logits.size(0))
        alpha = self.start_transitions + logits[:, 0]  # (B, K): log-sum of the paths ending in each tag
        for t in range(1, logits.size(1)):
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1) + logits[:, t]  # (B, K)
            alpha = torch.where(mask[:, t].unsqueeze(1), step, alpha)  # a finished row keeps its sums
        total = torch.logsumexp(alpha + self.end_transitions, dim=1)  # (B,)
        return total.masked_fill(~mask[:, 0], 0.0)

    def score(self, logits: torch.Tensor, tags: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits = _full_precision(logits)
        if logits.size(1) == 0:  # no row has a token
            return logits.new_zeros(logits.size(0))
        tags = tags.masked_fill(~mask, 0)  # padding may hold any value; make it a valid index
        emitted = logits.gather(2, tags.unsqueeze(2)).squeeze(2).masked_fill(~mask, 0.0).sum(1)  # (B,)
        moves = self.transitions[tags[:, :-1], tags[:, 1:]].masked_fill(~mask[:, 1:], 0.0).sum(1)  # (B,)
        lengths = sequence_lengths(mask)  # (B,)
        last = tags.gather(1, (lengths - 1).clamp(min=0).unsqueeze(1)).squeeze(1)  # (B,)
        ends = (self.start_transitions[tags[:, 0]] + self.end_transitions[last]).masked_fill(lengths == 0, 0.0)
        return emitted + moves + ends

    # --- decoding ------------------------------------------------------------------------------------
    def viterbi_decode(self, logits: torch.Tensor, mask: torch.Tensor,
                       top_k: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        k = 1 if top_k is None else top_k
        if k < 1:
            raise ValueError(f"top_k must be at least 1, found {top_k}")
        batch_size, timesteps, num_tags = logits.shape
        if timesteps == 0:  # no row has a token: no tags, score 0
            tags = torch.zeros(batch_size, k, 0, dtype=torch.long, device=logits.device)  # (B, k, 0)
            final = _full_precision(logits).new_zeros(batch_size, k)  # (B, k)
            return (tags[:, 0], final[:, 0]) if top_k is None else (tags, final)
        transitions, start, end = self._constrained_scores()
        # Tag-major layouts, so that each step's maximum over the previous tag reduces the outermost dim
        # (a fast vectorised kernel on CPU; maxima that also return indices are several times slower, so
        # the forward pass keeps only scores and the backtrace recomputes the winning previous tags).
        emissions = _full_precision(logits).permute(1, 2, 0).contiguous()  # (T, K, B)
        # score[j, r, b]: score of the r-th best path of row b that ends in tag j at the current step
        score = emissions.new_full((num_tags, k, batch_size), float("-inf"))  # (K, k, B)
        score[:, 0] = start.unsqueeze(1) + emissions[0]
        scores = [score]
        for t in range(1, timesteps):
            candidates = score.unsqueeze(2) + transitions.view(num_tags, 1, num_tags, 1)  # (K_prev, k, K, B)
            candidates = candidates.reshape(num_tags * k, num_tags, batch_size)  # (K_prev * k, K, B)
            if k == 1:
                best = candidates.amax(dim=0, keepdim=True)  # (1, K, B)
            else:
                best = candidates.topk(k, dim=0).values  # (k, K, B), best first
            score = best.transpose(0, 1) + emissions[t].unsqueeze(1)  # (K, k, B)
            scores.append(score)
        # Rows are advanced past their ends (cheaper than masking every step): each row's paths end at its
        # last real token, so its final scores are read there, and its backtrace starts there.
        history = torch.stack(scores).permute(0, 3, 1, 2).reshape(timesteps, batch_size, num_tags * k)
        last = (sequence_lengths(mask) - 1).clamp(min=0)  # (B,)
        ended = history.gather(0, last.view(1, batch_size, 1).expand(1, batch_size, num_tags * k)).squeeze(0)
        final, position = (ended + end.repeat_interleave(k)).topk(k, dim=1)  # (B, k): tag * k + rank
        # into[j, i * k + r] = transitions[i, j]: the scores of stepping into tag j from each (tag, rank)
        into = transitions.t().repeat_interleave(k, dim=1)  # (K, K * k)
        live = torch.arange(timesteps, device=logits.device).view(timesteps, 1, 1) <= last.view(1, batch_size, 1)
        positions = [position]  # at steps T - 1, T - 2, ..., 0
        for t in range(timesteps - 1, 0, -1):
            candidates = history[t - 1].unsqueeze(1) + into[position // k if k > 1 else position]  # (B, k, K * k)
            if k == 1:
                previous = candidates.argmax(dim=2)  # (B, 1)
            else:
                ranked = candidates.topk(k, dim=2).indices  # (B, k, k): the k best predecessors of each path
                previous = ranked.gather(2, (position % k).unsqueeze(2)).squeeze(2)  # (B, k)
            # until the backtrace reaches a row's last token, the row's position holds its final choice
            position = torch.where(live[t], previous, position)
            positions.append(position)
        tags = (torch.stack(positions[::-1], dim=2) // k).masked_fill(~mask.unsqueeze(1), 0)  # (B, k, T)
        final = final.masked_fill(~mask[:, :1], 0.0)
        return (tags[:, 0], final[:, 0]) if top_k is None else (tags, final)

    def _constrained_scores(self) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Transition (K, K), start (K,) and end (K,) scores with forbidden transitions set to -inf."""
        k = self.num_tags
        forbidden = float("-inf")
        transitions = self.transitions.masked_fill(~self.allowed[:k, :k], forbidden)
        start = self.start_transitions.masked_fill(~self.allowed[k, :k], forbidden)
        end = self.end_transitions.masked_fill(~self.allowed[:k, k + 1], forbidden)
        return transitions, start, end

    def extra_repr(self) -> str:
        constrained = not bool(self.allowed.all())
        return (f"num_tags={self.num_tags}, constrained={constrained}, "
                f"include_start_end_transitions={self.include_start_end_transitions}")


def _full_precision(logits: torch.Tensor) -> torch.Tensor:
    """Half-precision logits as float32 (sums over long sentences need the mantissa); others unchanged."""
    return logits.float() if logits.dtype in (torch.float16, torch.bfloat16) else logits
