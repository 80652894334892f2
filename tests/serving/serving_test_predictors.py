"""Plugin predictors for the serving tests (imported by the tests, or `--include-package` in a subprocess).

`serving_test_tagger` answers like a span tagger (tokens, BIO tags, labelled spans): a run of capitalised
words is a NAME. `serving_test` is the `language_model` predictor with two switches, set by words of a
request's sentence, in `predict_requests` and in each step of its `continuations()` (streamed generation):

- "boom": the model call raises `RuntimeError` (a failure inside the model, not the user's).
- "hold": the call waits at a gate. With `LMLAB_TEST_GATE=DIR` in the environment, the n-th held call writes
  `DIR/entered-n` and waits until the test writes `DIR/release-n`, so a test knows a request is in the
  model and decides when it finishes, without sleeping.
"""
import os
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Set, cast

from lmlab.predictors.continuations import Continuations, GenerateOptions
from lmlab.predictors.language_model import LanguageModelPredictor, LanguageModelRequest
from lmlab.predictors.predictor import JsonDict, Predictor, require_text

GATE_TIMEOUT_S = 60


@Predictor.register("serving_test")
class ServingTestPredictor(LanguageModelPredictor):
    """`language_model` with "boom" (fail) and "hold" (wait at the gate) switches; see the module docstring."""

    held_calls = 0

    def predict_requests(self, requests: List[LanguageModelRequest]) -> List[JsonDict]:
        self.switches({word for request in requests for word in request.tokens})
        return super().predict_requests(requests)

    def continuations(self) -> Continuations:
        return cast(Continuations, SwitchedContinuations(self, super().continuations()))

    def switches(self, words: Set[str]) -> None:
        """Raise for "boom", wait at the gate for "hold" (see the module docstring)."""
        if "boom" in words:
            raise RuntimeError("boom: a failure inside the model")
        if "hold" in words:
            self.held_calls += 1
            number = self.held_calls
            gate = Path(os.environ["LMLAB_TEST_GATE"])
            (gate / f"entered-{number}").touch()
            wait_for(gate / f"release-{number}")


class SwitchedContinuations:
    """The predictor's `Continuations` (all calls passed on), whose steps obey the switches of their rows' words."""

    def __init__(self, predictor: ServingTestPredictor, running: Continuations,
                 words: Optional[Dict[int, Set[str]]] = None) -> None:
        self.predictor = predictor
        self.running = running
        self.words = {} if words is None else words  # by row id

    def __len__(self) -> int:
        return len(self.running)

    def __contains__(self, row_id: int) -> bool:
        return row_id in self.running

    @property
    def ids(self) -> List[int]:
        return self.running.ids

    def add(self, prefixes: Sequence[List[str]], options: Sequence[GenerateOptions]) -> List[int]:
        ids = self.running.add(prefixes, options)
        self.words.update(zip(ids, map(set, prefixes), strict=True))
        return ids

    def step(self) -> Dict[int, Optional[str]]:
        self.predictor.switches({word for row_id in self.running.ids for word in self.words[row_id]})
        return self.running.step()

    def drop(self, ids: Iterable[int]) -> None:
        self.running.drop(ids)

    def split(self, ids: Iterable[int]) -> "SwitchedContinuations":
        return SwitchedContinuations(self.predictor, self.running.split(ids), self.words)

    def merge(self, other: "SwitchedContinuations") -> None:
        self.running.merge(other.running)


def wait_for(path: Path) -> None:
    """Until `path` exists: the server waits for the test's release files, the test for the server's entries."""
    deadline = time.monotonic() + GATE_TIMEOUT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.005)


@Predictor.register("serving_test_tagger")
class ServingTestTagger(Predictor):
    """Tags runs of capitalised words as NAME spans (the output of a sentence tagger; the model is not used)."""

    def validate(self, inputs: JsonDict) -> List[str]:
        return require_text(inputs, "sentence").split()

    def predict_requests(self, requests: List[List[str]]) -> List[JsonDict]:
        return [self._tag(tokens) for tokens in requests]

    @staticmethod
    def _tag(tokens: List[str]) -> JsonDict:
        names = [token[:1].isupper() for token in tokens]
        tags = ["O" if not name else "I-NAME" if i and names[i - 1] else "B-NAME" for i, name in enumerate(names)]
        starts = [i for i, tag in enumerate(tags) if tag == "B-NAME"]
        ends = [next((j for j in range(i + 1, len(tags)) if tags[j] != "I-NAME"), len(tags)) for i in starts]
        spans = [{"label": "NAME", "start": i, "end": j, "text": " ".join(tokens[i:j])}
                 for i, j in zip(starts, ends, strict=True)]
        return {"tokens": tokens, "tags": tags, "spans": spans}
