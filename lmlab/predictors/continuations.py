"""Text continuation with a `language_model`: a running batch of continuations and the choice of next tokens.

`Continuations` advances every row by one batched model step per token (`LanguageModel.step`, which
carries an RNN's state or a transformer's keys and values, so a token costs one position rather than a
re-run of its prefix). Rows join (`add`) and leave (finished, or `drop`) between steps, so a server can
put a new stream into a batch that is already running. `choose_next` picks every row's next id at once.

Reproducibility: a seeded row draws from its own `torch.Generator`, exactly the numbers that
`torch.multinomial(probabilities, 1, generator)` drew for it one request at a time, so its continuation
depends on its seed and options only, not on which rows share its steps (streamed or not, alone or
batched). The probabilities themselves are equal to float rounding whatever the batch: a different
batch can move a near-tie, as with any batched model call.
"""
import math
from dataclasses import dataclass
from typing import Any, Callable, Collection, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch

from lmlab.models.language_model import LanguageModel
from lmlab.modules.seq2seq_encoders.seq2seq_encoder import StepState, concatenate_states, select_rows
from lmlab.modules.util import TextFieldTensors

GenerateOptions = Mapping[str, Any]
"""Validated generate options: max_tokens, greedy, temperature, top_k, top_p, seed (see the predictor)."""


def choose_next(log_probs: torch.Tensor, options: Sequence[GenerateOptions],
                generators: Sequence[Optional[torch.Generator]]) -> torch.Tensor:
    """The next id (A,) long of every row of `log_probs` (A, V) float on the CPU (banned ids at -inf).

    Greedy rows take the argmax. The others sample from softmax(log_probs / temperature), restricted to
    the `top_k` most likely ids, then to the smallest set of most likely ids whose probability reaches
    `top_p`. A seeded row's draw is what `torch.multinomial(probabilities, 1, generator)` makes of the
    row alone: multinomial's single draw is argmax(probabilities / E) with E ~ Exp(1)^V drawn from the
    generator, and each seeded row draws its own E, one (V,) vector from its own generator, so its draws
    do not depend on its companions. An unseeded row (generator None) has no draws to reproduce: it
    inverts its cumulative distribution (in float64) at one uniform number from the global generator,
    the same distribution for one random number instead of V (drawing E costs more than the rest of a
    CPU step at V = 33k).
    Whatever the options, a banned id (at -inf) is never returned: a temperature far outside the range the
    predictor accepts leaves a row no distribution float32 can hold (NaN), whose draw may be any id; such
    a row takes its most likely id (the limit of a temperature towards 0).
    """
    sampled = [row for row, option in enumerate(options) if not option["greedy"]]
    if not sampled:
        return log_probs.argmax(dim=1)  # (A,)
    everyone = len(sampled) == len(options)  # the common case: no copies of rows in and out
    num_words = log_probs.shape[1]
    logits = log_probs if everyone else log_probs[sampled]  # (S, V)
    temperatures = [options[row]["temperature"] for row in sampled]
    if any(value != 1 for value in temperatures):  # x / 1 is x exactly: skip the pass over (S, V)
        logits = logits / torch.tensor(temperatures, dtype=log_probs.dtype).unsqueeze(1)
    top_k = [options[row]["top_k"] for row in sampled]
    if any(top_k):
        # a row without top_k keeps k = V: its k-th largest logit is its smallest, which masks nothing
        k = torch.tensor([min(value or num_words, num_words) for value in top_k])  # (S,)
        kth = logits.sort(dim=1, descending=True).values.gather(1, (k - 1).unsqueeze(1))  # (S, 1)
        logits = logits.masked_fill(logits < kth, -math.inf)
    top_p = [options[row]["top_p"] for row in sampled]
    if any(value is not None and value < 1 for value in top_p):
        threshold = torch.tensor([value if value is not None and value < 1 else math.inf for value in top_p],
                                 dtype=logits.dtype).unsqueeze(1)  # (S, 1); inf: remove nothing
        sorted_logits, order = logits.sort(dim=1, descending=True)  # (S, V)
        probabilities = sorted_logits.softmax(dim=1)
        remove = probabilities.cumsum(dim=1) - probabilities >= threshold  # keep the smallest set reaching p
        logits = logits.masked_fill(torch.zeros_like(remove).scatter(1, order, remove), -math.inf)
    probabilities = logits.softmax(dim=1)  # (S, V)
    seeded = [index for index, row in enumerate(sampled) if generators[row] is not None]
    if not seeded:  # the common cases, all unseeded or all seeded, copy no rows
        draws = _inverse_cdf(probabilities)  # (S,)
    elif len(seeded) == len(sampled):
        draws = _multinomial(probabilities, [generators[row] for row in sampled])
    else:
        unseeded = [index for index in range(len(sampled)) if generators[sampled[index]] is None]
        draws = torch.empty(len(sampled), dtype=torch.long)
        draws[seeded] = _multinomial(probabilities[seeded], [generators[sampled[index]] for index in seeded])
        draws[unseeded] = _inverse_cdf(probabilities[unseeded])
    draws = draws.clamp(max=num_words - 1)  # the inverse CDF of a NaN row points past the end
    # a draw of a proper distribution has a positive probability; a NaN row's (a NaN) has not
    drawn = probabilities[torch.arange(len(sampled)), draws] > 0  # (S,)
    if not bool(drawn.all()):
        draws = torch.where(drawn, draws, (log_probs if everyone else log_probs[sampled]).argmax(dim=1))
    if everyone:
        return draws
    chosen = log_probs.argmax(dim=1)  # (A,)
    chosen[sampled] = draws
    return chosen


def _multinomial(probabilities: torch.Tensor, generators: Sequence[Optional[torch.Generator]]) -> torch.Tensor:
    """(R,) the draw of `torch.multinomial(probabilities[r], 1, generators[r])` for each row r of (R, V)."""
    noise = torch.empty_like(probabilities)
    for row, generator in enumerate(generators):  # one draw call per row: its generator is its own
        noise[row].exponential_(generator=generator)
    return (probabilities / noise).argmax(dim=1)  # (R,)


def _inverse_cdf(probabilities: torch.Tensor) -> torch.Tensor:
    """(R,) one draw per row of (R, V) probabilities (banned ids at 0) from the global generator: the first id
    whose cumulative probability passes u * total, u ~ U[0, 1); a zero-probability id is never drawn."""
    cumulative = probabilities.double().cumsum(dim=1)  # (R, V); cumsum(dtype=) converts several times slower
    total = cumulative[:, -1:]  # (R, 1)
    targets = torch.rand(total.shape, dtype=torch.float64) * total  # (R, 1)
    targets = torch.minimum(targets, torch.nextafter(total, torch.zeros_like(total)))  # below total, even rounded
    return torch.searchsorted(cumulative, targets, right=True).squeeze(1)  # (R,)


@dataclass
class _Row:
    id: int
    options: GenerateOptions
    generator: Optional[torch.Generator]
    produced: int = 0  # tokens generated so far


class Continuations:
    """Continuations of prompts, advanced together: one batched model step per token for all rows.

    Not registered: made by `LanguageModelPredictor.continuations()`, which supplies the pieces below.

    Parameters
        model: LanguageModel, in eval mode.
        text_field: token lists -> text field tensors (B, T) on the model's device (the prompts, indexed as
            the reader indexes them in training).
        token_field: B tokens -> text field tensors (B, 1): one next token per row.
        banned: (K,) long CPU ids never generated (padding, OOV, start tokens).
        end_tokens: a row that chooses one of them has finished (the end token is not part of its output).
        namespace: the vocabulary namespace of the model's V ids.
        rerun: re-run every row's whole prefix for each token instead of stepping (`rerun_step`).
    Use
        `ids = add(prefixes, options)` prefills the prompts together and gives each row an id; `step()`
        chooses every row's next token, answers {id: token, or None for a row that chose an end token},
        and advances the rows that go on by one batched model step (a row that has made `max_tokens`
        tokens, or chose an end token, leaves). `drop(ids)` removes rows; `split(ids)` moves rows to a new
        `Continuations` and `merge` takes them back. `len()` counts the rows still running.
    Notes
        `add` and `step` change nothing when they raise (a seeded row's generator is restored), so a
        caller can retry rows one by one. Each call runs under `torch.inference_mode()`.
    """

    def __init__(self, model: LanguageModel, text_field: Callable[[List[List[str]]], TextFieldTensors],
                 token_field: Callable[[List[str]], TextFieldTensors], banned: torch.Tensor,
                 end_tokens: Collection[str], namespace: str, rerun: bool = False) -> None:
        self.model = model
        self._text_field = text_field
        self._token_field = token_field
        self._banned = banned
        self._end_tokens = frozenset(end_tokens)
        self._namespace = namespace
        self._rerun = rerun
        self._rows: List[_Row] = []
        self._log_probs: Optional[torch.Tensor] = None  # (A, V) float CPU: each row's next-token distribution
        self._state: Optional[StepState] = None  # the model's state after each row's tokens so far
        self._next_id = 0

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, row_id: int) -> bool:
        return any(row.id == row_id for row in self._rows)

    @property
    def ids(self) -> List[int]:
        return [row.id for row in self._rows]

    def add(self, prefixes: Sequence[List[str]], options: Sequence[GenerateOptions]) -> List[int]:
        """Start a row per prefix (its start tokens included) with its generate options; returns their ids."""
        if len(prefixes) != len(options):
            raise ValueError(f"{len(prefixes)} prefixes but {len(options)} option sets")
        if not prefixes:
            return []
        with torch.inference_mode():
            log_probs, state = self.model.step(self._text_field(list(prefixes)), None, self._rerun)  # (n, V)
            log_probs = self._choosable(log_probs)
        rows = [_Row(self._next_id + i, option,
                     None if option["seed"] is None else torch.Generator().manual_seed(option["seed"]))
                for i, option in enumerate(options)]
        self._next_id += len(rows)
        self._append(rows, log_probs, state)
        return [row.id for row in rows]

    def step(self) -> Dict[int, Optional[str]]:
        """Every row's next token (None for a row that chose an end token); see the class notes."""
        if not self._rows:
            return {}
        assert self._log_probs is not None and self._state is not None
        saved = [None if row.generator is None else row.generator.get_state() for row in self._rows]
        try:
            with torch.inference_mode():
                chosen = choose_next(self._log_probs, [row.options for row in self._rows],
                                     [row.generator for row in self._rows]).tolist()
                tokens = [self.model.vocab.get_token_from_index(index, self._namespace) for index in chosen]
                answers: Dict[int, Optional[str]] = {}
                going_on = []  # (position in the batch, token) of the rows that need another token
                for position, (row, token) in enumerate(zip(self._rows, tokens, strict=True)):
                    if token in self._end_tokens:
                        answers[row.id] = None
                        continue
                    answers[row.id] = token
                    if row.produced + 1 < row.options["max_tokens"]:
                        going_on.append((position, token))
                log_probs, state = None, None
                if going_on:
                    state = self._state
                    if len(going_on) < len(self._rows):  # (all rows going on, the common case: no copy)
                        state = select_rows(state, torch.tensor([position for position, _ in going_on]))
                    log_probs, state = self.model.step(self._token_field([token for _, token in going_on]),
                                                       state, self._rerun)
                    log_probs = self._choosable(log_probs)
        except BaseException:
            for row, generator_state in zip(self._rows, saved, strict=True):
                if row.generator is not None and generator_state is not None:
                    row.generator.set_state(generator_state)
            raise
        for row in self._rows:
            row.produced += 1
        self._rows = [self._rows[position] for position, _ in going_on]
        self._log_probs = log_probs
        self._state = state
        return answers

    def drop(self, ids: Iterable[int]) -> None:
        """Remove the rows `ids` (those not running are ignored)."""
        unwanted = set(ids)
        self._keep([row.id not in unwanted for row in self._rows])

    def split(self, ids: Iterable[int]) -> "Continuations":
        """A new `Continuations` with the rows `ids`, removed from this one (for running them apart)."""
        wanted = set(ids)
        moved = [row.id in wanted for row in self._rows]
        other = Continuations(self.model, self._text_field, self._token_field, self._banned, self._end_tokens,
                              self._namespace, self._rerun)
        other._next_id = self._next_id
        if any(moved):
            rows, log_probs, state = self._select(moved)
            other._append(rows, log_probs, state)
        self._keep([not flag for flag in moved])
        return other

    def merge(self, other: "Continuations") -> None:
        """Take back the rows of `other` (made by `split`), after this one's."""
        if other._rows:
            assert other._log_probs is not None and other._state is not None
            self._append(other._rows, other._log_probs, other._state)
        self._next_id = max(self._next_id, other._next_id)
        other._keep([False] * len(other._rows))

    # --- bookkeeping -------------------------------------------------------------------------------
    def _choosable(self, log_probs: torch.Tensor) -> torch.Tensor:
        """(A, V) float CPU log-probabilities with the banned ids at -inf, as `choose_next` takes them."""
        return log_probs.float().cpu().index_fill_(1, self._banned, -math.inf)

    def _append(self, rows: List[_Row], log_probs: torch.Tensor, state: StepState) -> None:
        if self._state is None or self._log_probs is None:
            self._log_probs, self._state = log_probs, state
        else:
            self._log_probs = torch.cat([self._log_probs, log_probs])
            self._state = concatenate_states([self._state, state])
        self._rows = self._rows + rows

    def _select(self, flags: List[bool]) -> Tuple[List[_Row], torch.Tensor, StepState]:
        assert self._log_probs is not None and self._state is not None
        positions = torch.tensor([position for position, flag in enumerate(flags) if flag], dtype=torch.long)
        rows = [row for row, flag in zip(self._rows, flags, strict=True) if flag]
        return rows, self._log_probs[positions], select_rows(self._state, positions)

    def _keep(self, flags: List[bool]) -> None:
        if all(flags):
            return
        if any(flags):
            self._rows, self._log_probs, self._state = self._select(flags)
        else:
            self._rows, self._log_probs, self._state = [], None, None
