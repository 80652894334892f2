"""`/generate`: a prompt and the `language_model` predictor's generate options at the top level.

    {"sentence": "the cat", "max_tokens": 20, "temperature": 0.8, "stream": true}

`GenerateRequest.from_json` splits such a body into the predictor's own input (`{"sentence", "generate":
{...}}`, so the predictor validates it and words the errors exactly as `lmlab predict` does) and the
`stream` flag. Without streaming the continuation is one predictor call. With streaming,
`stream_continuation` yields each token as soon as it is made.

Today's `Predictor` contract has no per-token generator, so `stream_continuation` asks the predictor for
one token at a time (`max_tokens: 1` on the prompt plus the tokens so far). Each of those calls goes
through the micro-batcher, so the steps of concurrent streams share model calls. A step re-reads its
prefix, as the predictor's own generation loop does today. Seeded sampling stays reproducible: step i
uses a seed derived from (seed, i), which is a different draw from the one-call continuation with the
same seed. Greedy continuations are identical either way.
"""
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Dict, List, cast

from lmlab.predictors.language_model import GENERATE_OPTIONS
from lmlab.predictors.predictor import JsonDict
from lmlab.serving.requests import RequestError

# Golden-ratio multiplier: seeds of neighbouring requests (s, s + 1) give unrelated per-step seeds.
_SEED_MIX = 0x9E3779B97F4A7C15


@dataclass
class GenerateRequest:
    """A /generate body: the predictor's `sentence`, its generate `options` (unchecked) and `stream`."""

    sentence: Any
    options: Dict[str, Any]
    stream: bool

    @classmethod
    def from_json(cls, body: Any) -> "GenerateRequest":
        if not isinstance(body, dict):
            raise RequestError(422, f"expected a JSON object, found {type(body).__name__}")
        options = {key: value for key, value in body.items() if key not in ("sentence", "stream")}
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise RequestError(422, f'"stream" must be true or false, found {stream!r}')
        return cls(body.get("sentence"), options, stream)

    def predictor_input(self) -> JsonDict:
        """The whole continuation as one `language_model` predictor input."""
        sentence = {} if self.sentence is None else {"sentence": self.sentence}
        return {**sentence, "generate": self.options, "score": False, "next_token": False}

    @property
    def max_tokens(self) -> int:
        return cast(int, self.options.get("max_tokens", GENERATE_OPTIONS["max_tokens"]))  # validated: an int

    def step_input(self, generated: List[str]) -> JsonDict:
        """The predictor input that makes the token after `generated` (tokens of a validated request)."""
        seed = self.options.get("seed")
        step_seed = None if seed is None else (seed * _SEED_MIX + len(generated)) % 2 ** 63
        generate = {**self.options, "max_tokens": 1, "seed": step_seed}
        return {"sentence": " ".join([self.sentence, *generated]), "generate": generate,
                "score": False, "next_token": False}


async def stream_continuation(request: GenerateRequest,
                              predict: Callable[[JsonDict], Awaitable[JsonDict]]) -> AsyncIterator[str]:
    """The continuation of a validated `request`, one token at a time; `predict` answers one predictor input.

    Stops after `max_tokens` tokens or when the model chooses an end token (which is not yielded).
    """
    generated: List[str] = []
    while len(generated) < request.max_tokens:
        tokens = (await predict(request.step_input(generated)))["generated"]["tokens"]
        if not tokens:  # the predictor drops an end token and stops
            return
        generated.append(tokens[0])
        yield tokens[0]
