"""`Predictor`: JSON in, JSON out, on top of a trained model.

Contract
    `predict_batch_json(inputs)` takes a list of JSON objects and returns one JSON object per input, in
    order. An input that is invalid (missing or empty fields, too long, unknown options) gets
    `{"error": "..."}` in its place; the other inputs of the batch are still answered. Implementations
    provide `validate(json) -> normalised request` (raising `InputError`) and
    `predict_requests(requests) -> outputs` for already-validated requests, run in one batch.
    The model runs in eval mode under `torch.inference_mode()`.
"""
from typing import Any, Dict, Generic, List, Optional, TypeVar

from lmlab.common.errors import InputError, LmlabError
from lmlab.common.registrable import Registrable
from lmlab.data.dataset_readers.dataset_reader import DatasetReader
from lmlab.models.archival import Archive
from lmlab.models.model import Model

JsonDict = Dict[str, Any]
MAX_TOP_K = 1000
MAX_CHARS = 100_000
"""Default longest text accepted, in characters, checked before tokenising: a bound on what one input can cost
(tokenising a 1 MB sentence holds Python's lock for ~50 ms, in which a server answers nothing else)."""
"""Most candidates one input may ask for (next tokens, fillers, generate's top_k): a bound on the answer's size."""
RequestT = TypeVar("RequestT")
"""What `validate` makes of one JSON input and `predict_requests` consumes (each predictor has its own)."""


class Predictor(Registrable, Generic[RequestT]):
    """Base class of predictors; see the module docstring."""

    run_time_arguments = ("model", "dataset_reader")

    def __init__(self, model: Model, dataset_reader: DatasetReader) -> None:
        self.model = model.eval()
        self.dataset_reader = dataset_reader

    def validate(self, inputs: JsonDict) -> RequestT:
        raise NotImplementedError

    def predict_requests(self, requests: List[RequestT]) -> List[JsonDict]:
        raise NotImplementedError

    def tokens_to_generate(self, request: RequestT) -> int:
        """The most tokens answering `request` may generate (what a server's per-request cap counts); 0 for
        a predictor that does not generate text."""
        return 0

    def detokenize(self, tokens: List[str]) -> str:
        """The text of tokens this predictor generated: joined by single spaces here; a predictor whose
        tokenizer splits words into pieces joins them back."""
        return " ".join(tokens)

    def predict_json(self, inputs: JsonDict) -> JsonDict:
        """One input; an invalid one raises `InputError` instead of returning an error object."""
        return self.predict_requests([self.validate(inputs)])[0]

    def predict_batch_json(self, inputs: List[JsonDict]) -> List[JsonDict]:
        results: List[Optional[JsonDict]] = [None] * len(inputs)
        valid, positions = [], []
        for position, item in enumerate(inputs):
            try:
                valid.append(self.validate(item))
                positions.append(position)
            except LmlabError as err:
                results[position] = {"error": "; ".join(message for _, message in err.problems)}
        if valid:
            for position, output in zip(positions, self.predict_requests(valid), strict=True):
                results[position] = output
        return results  # type: ignore[return-value]

    @classmethod
    def from_archive(cls, archive: Archive, predictor_name: Optional[str] = None, **options: Any) -> "Predictor":
        """The predictor `predictor_name` (default: the model's `default_predictor`) for an archive."""
        name = predictor_name or archive.model.default_predictor
        if name is None:
            raise InputError(f"{type(archive.model).__name__} has no default predictor; pass --predictor "
                             f"(one of: {', '.join(cls.list_available())})")
        predictor = cls.by_name(name)(archive.model, archive.validation_dataset_reader, **options)
        assert isinstance(predictor, Predictor)  # Predictor's registry holds only predictors
        return predictor


def bounded_int(value: Any, name: str, low: int, high: int) -> int:
    """`value` if it is an int (not a bool) from `low` to `high`, else an `InputError` naming `name`."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InputError(f'"{name}" must be an integer from {low} to {high}, found {shown(value)}')
    return value


def shown(value: Any, width: int = 40) -> str:
    """`repr(value)` cut to `width` characters, for messages about inputs that may be huge."""
    huge = isinstance(value, int) and value.bit_length() > 64  # str() of a 5,000-digit int raises
    text = f"an integer of {value.bit_length()} bits" if huge else repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def require_text(inputs: JsonDict, key: str, max_chars: Optional[int] = None) -> str:
    """`inputs[key]` as a non-empty string of at most `max_chars` characters (None: any length), else an
    `InputError` saying what is wrong."""
    if not isinstance(inputs, dict):
        raise InputError(f"expected a JSON object, found {type(inputs).__name__}")
    if key not in inputs:
        raise InputError(f'missing "{key}"')
    value = inputs[key]
    if not isinstance(value, str):
        raise InputError(f'"{key}" must be a string, found {type(value).__name__}')
    if not value.strip():
        raise InputError(f'empty "{key}"')
    if max_chars is not None and len(value) > max_chars:
        raise InputError(f'input too long: "{key}" has {len(value)} characters > max_chars {max_chars}')
    return value
