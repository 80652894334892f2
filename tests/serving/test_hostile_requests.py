"""Requests that parse but are extreme or odd (issue 21), against real servers on loopback: each is refused
with a 4xx or answered, never with a 5xx, a non-JSON body, another request's failure or a long stall.

Numbered as the issue: 1 extreme options, 2 non-finite scores, 3 one item failing a batch, 4 head-of-line
blocking and request caps, 5 bodies that parse but cannot be answered.
"""
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import torch
from serving_test_predictors import ServingTestPredictor, wait_for

from lmlab.common import strict_json
from lmlab.common.params import Params, merge_overrides
from lmlab.data import DatasetReader, SimpleLanguageModelingDatasetReader, Vocabulary
from lmlab.models import Model
from lmlab.predictors import SentenceTaggerPredictor
from lmlab.predictors.language_model import LanguageModelRequest
from lmlab.predictors.predictor import JsonDict
from lmlab.serving.app import ServerSettings, create_app
from lmlab.serving.testing import serve_in_thread

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
WAIT_S = 60  # longest a test waits for the server; never reached when it works


def refused(response: httpx.Response, status: int, message: str) -> None:
    """`response` is `status` with strict JSON {"error": "input error at request...: <message>...", "request_id"}."""
    assert response.status_code == status, response.text
    body = strict_json.loads(response.text)
    assert body["request_id"] == response.headers["x-request-id"]
    assert body["error"].startswith("input error at request") and message in body["error"], body


# --- 1. extreme options ----------------------------------------------------------------------------------
@pytest.mark.parametrize("body, status, message", [
    (b'{"sentence": "the cat", "generate": {"temperature": 1e-39, "seed": 1}}', 422,
     '"generate.temperature" must be a number from 0.01 to 100, found 1e-39'),
    (b'{"sentence": "the cat", "generate": {"temperature": 1e-39}}', 422, '"generate.temperature"'),
    (b'{"sentence": "the cat", "generate": {"temperature": 3e38}}', 422, '"generate.temperature"'),
    (b'{"sentence": "the cat", "generate": {"temperature": ' + b"9" * 400 + b"}}", 422,
     "found an integer of 1329 bits"),
    (b'{"sentence": "the cat", "generate": {"temperature": Infinity}}', 400, "Infinity is not a JSON number"),
    (b'{"sentence": "the cat", "generate": {"temperature": 1e999}}', 400, "the number 1e999 is out of range"),
    (b'{"sentence": "the cat", "generate": {"seed": 18446744073709551616}}', 422, '"generate.seed"'),
    (b'{"sentence": "the cat", "generate": {"seed": -1}}', 422, '"generate.seed"'),
    (b'{"sentence": "the cat", "generate": {"top_k": 100000000000000000000000}}', 422, '"generate.top_k"'),
    (b'{"sentence": "the cat", "top_k": 100000000000000000000000}', 422, '"top_k" must be an integer from 1 to 1000'),
])
def test_1_options_out_of_the_models_range_are_refused_where_they_are_parsed(serve, body, status, message):
    with serve("language_model") as client:
        refused(client.post("/predict", content=body), status, message)
        generate = strict_json.loads(body.decode()) if status == 422 else None
        if generate is not None and "generate" in generate:  # the same options at /generate's top level
            options = {"sentence": "the cat", "stream": True, **generate["generate"]}
            refused(client.post("/generate", content=strict_json.dumps(options)), status, message)


def test_1_the_extreme_temperatures_allowed_sample_words_not_padding(serve):
    with serve("language_model") as client:
        for temperature in (0.01, 100):
            response = client.post("/predict", json={"sentence": "the cat", "generate": {
                "temperature": temperature, "seed": 1, "max_tokens": 8}})
            assert response.status_code == 200
            assert not {"@@PADDING@@", "@@UNKNOWN@@", "<s>"} & set(response.json()["generated"]["tokens"])


# --- 2. non-finite scores ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tagger() -> SentenceTaggerPredictor:
    """The tiny BIOES chunker (untrained) asking for the 10 best tag sequences: a one-token sentence has fewer."""
    config = Params.from_file(str(FIXTURES / "configs" / "crf_tagger_tiny.jsonnet"),
                              ext_vars={"LMLAB_FIXTURES": str(FIXTURES)}).as_dict()
    reader = DatasetReader.from_params(Params(config["dataset_reader"], "dataset_reader"))
    vocab = Vocabulary.from_instances(reader.read(config["train_data_path"]))
    torch.manual_seed(0)
    model = Model.from_params(Params(merge_overrides(config["model"], {"top_k": 10}), "model"), vocab=vocab)
    return SentenceTaggerPredictor(model, reader)


@pytest.fixture
def tagger_client(tagger) -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(tagger)) as url, httpx.Client(base_url=url, timeout=WAIT_S) as client:
        yield client


def test_2_a_top_k_beyond_the_allowed_tag_sequences_lists_only_those_with_finite_scores(tagger_client):
    single = tagger_client.post("/predict", json={"tokens": ["it"]})
    assert single.status_code == 200
    candidates = strict_json.loads(single.text)["top_k"]  # strict: -Infinity would not parse
    # one token under BIOES: O or a single-token chunk S-X, one per chunk label
    assert 1 < len(candidates) < 10
    assert all(tags == ["O"] or tags[0].startswith("S-") for tags in (c["tags"] for c in candidates))
    batch = tagger_client.post("/predict_batch", json=[{"tokens": ["it"]}, {"sentence": "the cat sat on the mat"}])
    assert batch.status_code == 200
    assert [len(output["top_k"]) for output in strict_json.loads(batch.text)] == [len(candidates), 10]


# --- 3. one item fails a batch -----------------------------------------------------------------------------
def test_3_an_item_that_fails_inside_the_model_gets_its_own_error_and_the_others_are_answered(serve):
    items = [{"sentence": "the cat"}, {"sentence": "boom the dog"}, {"sentence": "the dog", "topk": 1},
             {"sentence": "the cat", "generate": {"max_tokens": 3, "seed": 1}}, {"sentence": "boom",
                                                                                "generate": {"max_tokens": 3}}]
    with serve(max_batch_size=8) as client:
        response = client.post("/predict_batch", json=items)
        assert response.status_code == 200
        outputs, request_id = strict_json.loads(response.text), response.headers["x-request-id"]
        internal = f"internal error (request id {request_id}); the server's log has the traceback"
        assert outputs[1] == {"error": internal} and outputs[4] == {"error": internal}
        assert outputs[2]["error"].startswith("input error at request[2]: unknown field")
        assert outputs[0]["tokens"] == ["the", "cat"] and len(outputs[3]["generated"]["tokens"]) <= 3
        assert client.post("/predict", json={"sentence": "the cat"}).status_code == 200  # still serving


# --- 4. head-of-line blocking and caps ----------------------------------------------------------------------
class SignallingPredictor(ServingTestPredictor):
    """Without end tokens (a continuation makes exactly max_tokens), and each validated request writes
    `GATE/validated-<first word>`: with max_wait_ms 0 the request is on the model thread's queue at once."""

    def validate(self, inputs: JsonDict) -> LanguageModelRequest:
        request = super().validate(inputs)
        (Path(os.environ["LMLAB_TEST_GATE"]) / f"validated-{request.tokens[0]}").touch()
        return request


def test_4_scoring_waits_for_a_step_of_a_non_streamed_generation_not_for_all_of_it(archive, gate):
    """A continuation whose every step waits at the gate ("hold"): a scoring request sent meanwhile is
    answered after a step or two, while the continuation still has most of its tokens to make."""
    predictor = SignallingPredictor(archive.model, SimpleLanguageModelingDatasetReader(start_tokens=["<s>"]))
    generation = {"sentence": "hold the cat", "generate": {"max_tokens": 12, "seed": 1}, "score": False,
                  "next_token": False}
    app = create_app(predictor, ServerSettings(max_wait_ms=0))
    with serve_in_thread(app) as url, ThreadPoolExecutor(2) as pool:
        generating = pool.submit(httpx.post, f"{url}/predict", json=generation, timeout=WAIT_S)
        wait_for(gate / "entered-1")  # its first step holds the model thread
        scoring = pool.submit(httpx.post, f"{url}/predict", json={"sentence": "dog and cat"}, timeout=WAIT_S)
        wait_for(gate / "validated-dog")
        released = 0
        deadline = time.monotonic() + WAIT_S
        while not scoring.done() and time.monotonic() < deadline:
            if (gate / f"entered-{released + 1}").exists():  # a held step: let it go
                released += 1
                (gate / f"release-{released}").touch()
            time.sleep(0.002)
        assert scoring.result().status_code == 200
        steps_before_scoring = released
        for number in range(released + 1, 30):  # let the continuation finish
            (gate / f"release-{number}").touch()
        assert generating.result().status_code == 200
    assert len(generating.result().json()["generated"]["tokens"]) == 12
    # before: the scoring request waited for the whole continuation (13 held calls: its prefill, 12 steps)
    assert steps_before_scoring <= 3


class SlowValidation(ServingTestPredictor):
    """Its validation of a sentence starting with "slow" waits at the gate (as a 1 MB sentence takes a while)."""

    def validate(self, inputs: JsonDict) -> LanguageModelRequest:
        if isinstance(inputs, dict) and str(inputs.get("sentence", "")).startswith("slow"):
            self.switches({"hold"})
        return super().validate(inputs)


def test_4_a_small_request_does_not_wait_for_a_large_body_to_be_validated(archive, gate):
    predictor = SlowValidation(archive.model, archive.validation_dataset_reader)
    large = {"sentence": "slow " + "the cat " * 10_000}  # over 64 KiB
    with serve_in_thread(create_app(predictor)) as url, ThreadPoolExecutor(1) as pool:
        held = pool.submit(httpx.post, f"{url}/predict", json=large, timeout=WAIT_S)
        wait_for(gate / "entered-1")  # its validation has begun
        small = httpx.post(f"{url}/predict", json={"sentence": "the cat"}, timeout=WAIT_S)
        assert small.status_code == 200 and not held.done()
        (gate / "release-1").touch()
        assert held.result().status_code < 500


def test_4_items_and_generated_tokens_per_request_are_capped(serve):
    with serve("language_model", max_items_per_request=4, max_generated_tokens=10) as client:
        refused(client.post("/predict_batch", json=[{"sentence": "the cat"}] * 5), 413,
                "5 items > max_items_per_request 4")
        assert client.post("/predict_batch", json=[{"sentence": "the cat"}] * 4).status_code == 200
        two = [{"sentence": "the cat", "generate": {"max_tokens": 6}}] * 2
        refused(client.post("/predict_batch", json=two), 422, "12 tokens to generate")
        refused(client.post("/predict", json={"sentence": "the cat", "generate": {"max_tokens": 11}}), 422,
                "> max_generated_tokens 10")
        refused(client.post("/generate", json={"sentence": "the cat", "max_tokens": 11, "stream": True}), 422,
                "11 tokens to generate")
        assert client.post("/generate", json={"sentence": "the cat", "max_tokens": 10}).status_code == 200


# --- 5. bodies that parse but cannot be answered ------------------------------------------------------------
@pytest.mark.parametrize("path, body, message", [
    ("/predict", b'{"sentence": "the \\ud800 cat"}', "the lone surrogate \\ud800 is not Unicode text"),
    ("/predict", b'{"sentence": "the cat", "\\udfff": 1}', "the lone surrogate \\udfff"),
    ("/predict_batch", b'[{"sentence": "the cat"}, {"sentence": "\\udc00"}]', "the lone surrogate \\udc00"),
    ("/generate", b'{"sentence": "\\ud800", "stream": true}', "the lone surrogate"),
    ("/predict", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("/predict", b'{"sentence": "the cat", "top_k": NaN}', "NaN is not a JSON number"),
    ("/predict", b'{"sentence": "the cat", "top_k": ' + b"1" * 5000 + b"}", "invalid JSON: Exceeds the limit"),
])
def test_5_bodies_that_are_not_strict_json_are_a_400_naming_the_request(serve, path, body, message):
    with serve("language_model", max_body_bytes=1_000_000) as client:
        refused(client.post(path, content=body), 400, message)
        assert client.post("/predict", json={"sentence": "the cat"}).status_code == 200


def test_5_unknown_paths_and_methods_answer_json_with_the_request_id(serve):
    with serve("language_model") as client:
        for response, status in ((client.get("/nowhere"), 404), (client.get("/predict"), 405)):
            assert response.status_code == status
            body: Any = strict_json.loads(response.text)
            assert body["request_id"] == response.headers["x-request-id"] and body["error"]
