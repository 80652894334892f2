"""The HTTP API against a real uvicorn server on a free loopback port (conftest's `serve`).

The `serving_test` predictor is the `language_model` predictor with two switches (serving_test_predictors):
"boom" in a sentence fails inside the model, "hold" waits at a gate the test opens.
"""
import asyncio
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from serving_test_predictors import wait_for

from lmlab.predictors.predictor import Predictor

SENTENCE = "the cat sat on the"
SENTENCES = ["the cat sat on the", "the dog", "in the afternoon , sam walks", "the loaf smells sweet ."]


def metric(client: httpx.Client, name: str, **labels: str) -> float:
    """One sample of /metrics (0 when absent)."""
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def post_concurrently(client: httpx.Client, path: str, bodies: List[Any]) -> List[httpx.Response]:
    """POST every body at once, each on its own connection."""

    async def main() -> List[httpx.Response]:
        async with httpx.AsyncClient(base_url=client.base_url, timeout=60) as concurrent:
            return await asyncio.gather(*(concurrent.post(path, json=body) for body in bodies))

    return asyncio.run(main())


def events(response: httpx.Response) -> List[Dict[str, Any]]:
    """The JSON data of a server-sent event stream."""
    return [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]


def assert_close(actual: Any, expected: Any) -> None:
    """Equal JSON, floats to float32 rounding (the same input in another batch is padded differently)."""
    if isinstance(expected, float):
        assert actual == pytest.approx(expected, rel=1e-5, abs=1e-7)
    elif isinstance(expected, dict):
        assert actual.keys() == expected.keys()
        for key in expected:
            assert_close(actual[key], expected[key])
    elif isinstance(expected, list):
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            assert_close(a, e)
    else:
        assert actual == expected


@pytest.fixture(scope="module")
def predictor(archive) -> Predictor:
    """The plain language_model predictor, to compare the server's answers with."""
    return Predictor.from_archive(archive, "language_model")


def test_predict_answers_exactly_what_the_predictor_answers(serve, predictor):
    inputs = {"sentence": SENTENCE, "top_k": 3, "generate": {"max_tokens": 4, "seed": 1}}
    with serve("language_model") as client:
        response = client.post("/predict", json=inputs)
    assert response.status_code == 200
    assert response.json() == predictor.predict_json(inputs)  # the same single-request batch: identical floats
    assert len(response.json()["next_tokens"]) == 3


def test_predict_batch_answers_each_item_in_order_with_predicts_per_item_errors(serve, predictor):
    items = [{"sentence": SENTENCE}, {"sentence": "  "}, {"sentence": "the dog", "topk": 2}, "the dog",
             {"sentence": "the dog", "top_k": 2}]
    with serve("language_model") as client:
        response = client.post("/predict_batch", json=items)
    assert response.status_code == 200
    outputs, expected = response.json(), predictor.predict_batch_json(items)
    for i in (1, 2, 3):  # `lmlab predict`'s words, located at the item
        assert outputs[i] == {"error": f"input error at request[{i}]: {expected[i]['error']}"}
    assert outputs[2]["error"].endswith('unknown field "topk"; did you mean "top_k"?')
    assert_close([outputs[0], outputs[4]], [expected[0], expected[4]])


@pytest.mark.parametrize("body, status, message", [
    (b"{nope", 400, "invalid JSON: Expecting property name enclosed in double quotes (column 2)"),
    (b"\xff\xfe{}", 400, "not UTF-8 (byte 0)"),
    (b"  ", 400, "empty body"),
    (b'{"sentence": "the", "topk": 2}', 422, 'unknown field "topk"; did you mean "top_k"?'),
    (b'{"sentence": ""}', 422, 'empty "sentence"'),
    (b'["the cat"]', 422, "expected a JSON object, found list"),
])
def test_bad_requests_get_a_4xx_with_a_located_one_line_message(serve, body, status, message):
    with serve() as client:
        response = client.post("/predict", content=body)
        assert response.status_code == status
        assert response.json() == {"error": f"input error at request: {message}",
                                   "request_id": response.headers["x-request-id"]}
        assert client.post("/predict", json={"sentence": SENTENCE}).status_code == 200  # still serving
        assert metric(client, "lmlab_request_errors_total", endpoint="/predict", status=str(status)) == 1


def test_the_input_token_limit_is_the_predictors(serve, predictor):
    too_long = {"sentence": "the cat", "generate": {"max_tokens": 600}}
    expected = predictor.predict_batch_json([too_long])[0]["error"]
    assert expected.startswith("input too long:") and "max_tokens 512" in expected
    with serve() as client:
        response = client.post("/predict", json=too_long)
    assert response.status_code == 422
    assert response.json()["error"] == f"input error at request: {expected}"


def test_bodies_over_the_limit_get_413_with_or_without_a_content_length(serve):
    with serve(max_body_bytes=100) as client:
        declared = client.post("/predict", json={"sentence": "word " * 30})
        chunked = client.post("/predict", content=iter([b'{"sentence": "', b"word " * 30, b'"}']))
        assert "content-length" not in chunked.request.headers  # sent in chunks: counted as it arrives
        fits = client.post("/predict", json={"sentence": "word " * 10})
    for response in (declared, chunked):
        assert response.status_code == 413
        assert response.json()["error"] == "input error at request: body larger than 100 bytes"
    assert fits.status_code == 200


def test_predict_batch_needs_a_non_empty_list(serve):
    with serve() as client:
        not_a_list = client.post("/predict_batch", json={"sentence": SENTENCE})
        empty = client.post("/predict_batch", json=[])
    assert (not_a_list.status_code, not_a_list.json()["error"]) == (
        422, "input error at request: expected a JSON list, found dict")
    assert (empty.status_code, empty.json()["error"]) == (422, "input error at request: empty list")


def test_concurrent_requests_are_answered_by_one_batched_model_call(serve, predictor):
    with serve(max_batch_size=len(SENTENCES), max_wait_ms=30_000) as client:
        # the batch is full once every request has arrived: no request waits for the 30 s deadline
        responses = post_concurrently(client, "/predict", [{"sentence": s} for s in SENTENCES])
        assert metric(client, "lmlab_batch_size_count") == 1
        assert metric(client, "lmlab_batch_size_sum") == len(SENTENCES)
        assert metric(client, "lmlab_batch_size_bucket", le="2.0") == 0
    for sentence, response in zip(SENTENCES, responses, strict=True):
        assert response.status_code == 200
        assert_close(response.json(), predictor.predict_json({"sentence": sentence}))  # batching changes nothing


def test_a_request_in_the_model_does_not_block_the_event_loop(serve, gate):
    with serve() as client, ThreadPoolExecutor(1) as pool:
        held = pool.submit(httpx.post, f"{client.base_url}/predict", json={"sentence": "hold the cat"}, timeout=60)
        wait_for(gate / "entered-1")  # the model thread is busy with it now
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/info").status_code == 200
        assert metric(client, "lmlab_requests_total", endpoint="/predict") == 0
        assert not held.done()
        (gate / "release-1").touch()
        assert held.result().status_code == 200
        assert held.result().json()["tokens"] == ["hold", "the", "cat"]


def test_a_failure_inside_the_model_is_a_500_with_the_request_id_and_the_server_keeps_serving(serve, caplog):
    with serve() as client, caplog.at_level(logging.ERROR, logger="lmlab.serving"):
        response = client.post("/predict", json={"sentence": "boom the cat"})
        request_id = response.headers["x-request-id"]
        assert response.status_code == 500
        assert response.json() == {"error": f"internal error (request id {request_id}); the server's log has the "
                                            "traceback", "request_id": request_id}
        assert client.post("/predict", json={"sentence": SENTENCE}).status_code == 200
        assert metric(client, "lmlab_request_errors_total", endpoint="/predict", status="500") == 1
    assert f"request {request_id} (/predict) failed" in caplog.text
    assert "RuntimeError: boom: a failure inside the model" in caplog.text  # with its traceback


def test_a_failing_request_does_not_fail_the_requests_batched_with_it(serve):
    with serve(max_batch_size=2, max_wait_ms=30_000) as client:
        failed, answered = post_concurrently(client, "/predict", [{"sentence": "boom the cat"}, {"sentence": SENTENCE}])
        assert metric(client, "lmlab_batch_size_sum") == 2  # they shared a model call
    assert failed.status_code == 500 and answered.status_code == 200


def test_generate_streams_the_same_greedy_continuation_as_predict_and_plain_generate(serve):
    options = {"max_tokens": 6, "greedy": True}
    with serve() as client:
        plain = client.post("/generate", json={"sentence": SENTENCE, **options}).json()
        predicted = client.post("/predict", json={"sentence": SENTENCE, "generate": options}).json()
        with client.stream("POST", "/generate", json={"sentence": SENTENCE, **options, "stream": True}) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            streamed = events(response)
        assert metric(client, "lmlab_generated_tokens_total") == len(streamed) - 1
    generated = plain["generated"]
    assert generated == predicted["generated"] and 1 <= len(generated["tokens"]) <= 6
    assert streamed == [*({"token": token} for token in generated["tokens"]), {"done": True, "generated": generated}]


def test_a_seeded_stream_is_the_seeded_continuation_without_streaming(serve):
    body = {"sentence": "the dog", "max_tokens": 8, "temperature": 1.5, "seed": 7}
    with serve() as client:
        plain = client.post("/generate", json=body).json()["generated"]
        runs = []
        for _ in range(2):
            with client.stream("POST", "/generate", json={**body, "stream": True}) as response:
                runs.append(events(response))
    assert len(plain["tokens"]) > 2
    assert runs[0] == runs[1] == [*({"token": token} for token in plain["tokens"]), {"done": True, "generated": plain}]


def test_each_token_is_sent_as_soon_as_it_is_made(serve, gate):
    """Token n arrives while the model is held before token n + 1: it was not kept back for the rest."""
    body = {"sentence": "hold the cat sat on the", "max_tokens": 3, "greedy": True, "stream": True}
    with serve() as client, client.stream("POST", "/generate", json=body) as response:
        lines = (line for line in response.iter_lines() if line.startswith("data: "))
        received = []
        for step in range(1, 4):
            wait_for(gate / f"entered-{step}")
            (gate / f"release-{step}").touch()
            event = json.loads(next(lines)[len("data: "):])
            if "done" in event:  # the model chose the end token
                break
            received.append(event["token"])
            # token `step` is here, yet the model cannot have made token step + 1: it waits for release-(step+1)
            assert not (gate / f"release-{step + 1}").exists()
        assert received


def test_a_stream_that_fails_midway_ends_with_an_error_event_naming_the_request(serve):
    with serve() as client:
        with client.stream("POST", "/generate", json={"sentence": "boom", "stream": True}) as response:
            assert response.status_code == 200  # validation passed; the model fails at the first token
            streamed = events(response)
        request_id = response.headers["x-request-id"]
        assert streamed == [{"error": f"internal error (request id {request_id}); the server's log has the "
                                      "traceback", "request_id": request_id}]
        assert metric(client, "lmlab_request_errors_total", endpoint="/generate", status="500") == 1
        assert client.post("/generate", json={"sentence": "the cat", "max_tokens": 2}).status_code == 200


def test_generate_errors_are_the_predictors_words(serve, predictor):
    def predictor_error(generate: Dict[str, Any]) -> str:
        return predictor.predict_batch_json([{"sentence": "the cat", "generate": generate}])[0]["error"]

    with serve() as client:
        typo = client.post("/generate", json={"sentence": "the cat", "temprature": 0.5, "stream": True})
        too_many = client.post("/generate", json={"sentence": "the cat", "max_tokens": 600})
        bad_value = client.post("/generate", json={"sentence": "the cat", "top_p": 2})
        bad_stream = client.post("/generate", json={"sentence": "the cat", "stream": "yes"})
        no_sentence = client.post("/generate", json={"max_tokens": 3})
    assert typo.status_code == 422
    assert typo.json()["error"] == f"input error at request: {predictor_error({'temprature': 0.5})}"
    assert typo.json()["error"].endswith('did you mean "temperature"?')
    assert too_many.json()["error"] == f"input error at request: {predictor_error({'max_tokens': 600})}"
    assert bad_value.json()["error"] == f"input error at request: {predictor_error({'top_p': 2})}"
    assert bad_stream.json()["error"] == "input error at request: \"stream\" must be true or false, found 'yes'"
    assert no_sentence.json()["error"] == 'input error at request: missing "sentence"'
    assert {r.status_code for r in (too_many, bad_value, bad_stream, no_sentence)} == {422}


def test_health_info_page_docs_and_metrics(serve):
    with serve(max_batch_size=7) as client:
        assert client.get("/health").json() == {"status": "ok"}
        info = client.get("/info").json()
        assert (info["predictor"], info["model"], info["max_batch_size"]) == ("serving_test", "LanguageModel", 7)
        page = client.get("/")
        assert page.status_code == 200 and '<textarea id="prompt"' in page.text
        assert client.get("/static/page.js").status_code == 200
        assert {"/predict", "/predict_batch", "/generate"} <= client.get("/openapi.json").json()["paths"].keys()
        assert client.get("/docs").status_code == 200
        assert client.get("/nowhere").status_code == 404
        for _ in range(2):
            client.post("/predict", json={"sentence": SENTENCE})
        response = client.get("/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        assert metric(client, "lmlab_requests_total", endpoint="/predict") == 2
        assert metric(client, "lmlab_request_latency_seconds_count", endpoint="/predict") == 2
        # buckets fine enough to read a latency target off: every 100-200 ms up to a second
        bounds = {float(sample.labels["le"]) for family in text_string_to_metric_families(response.text)
                  for sample in family.samples if sample.name == "lmlab_request_latency_seconds_bucket"}
        assert {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0} <= bounds
        assert metric(client, "lmlab_requests_total", endpoint="other") == 2  # /static/page.js, /nowhere
        assert metric(client, "lmlab_batch_seconds_count") == 2


def test_every_app_has_its_own_metrics(serve):
    with serve() as first, serve() as second:
        first.post("/predict", json={"sentence": SENTENCE})
        assert metric(first, "lmlab_requests_total", endpoint="/predict") == 1
        assert metric(second, "lmlab_requests_total", endpoint="/predict") == 0
