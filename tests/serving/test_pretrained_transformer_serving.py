"""`lmlab serve` of a pretrained causal LM (configs/transformers/next_token_lm.jsonnet on a tiny local GPT-2):
continuations step with the model's key/value cache, and their text is the tokenizer's, not the BPE pieces."""
import json
import shutil
from pathlib import Path

import httpx
import pytest

transformers = pytest.importorskip("transformers")

from lmlab.commands.testing import run_lmlab  # noqa: E402
from lmlab.common.testing.tiny_transformers import tiny_transformer  # noqa: E402
from lmlab.models.archival import load_archive  # noqa: E402
from lmlab.predictors.predictor import Predictor  # noqa: E402
from lmlab.serving.app import ServerSettings, create_app  # noqa: E402
from lmlab.serving.testing import serve_in_thread  # noqa: E402

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "transformers" / "next_token_lm.jsonnet"


def test_served_gpt2_generates_as_transformers_and_streams_its_pieces(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLAB_CACHE", str(tmp_path / "cache"))
    given = tmp_path / "gpt2"
    shutil.copytree(tiny_transformer("gpt2"), given)
    result = run_lmlab(["train", CONFIG, "-s", tmp_path / "run"], env={"HF_MODEL": str(given)})
    assert result.returncode == 0, result.stderr
    shutil.rmtree(given)
    predictor = Predictor.from_archive(load_archive(tmp_path / "run" / "model.tar.gz"))
    app = create_app(predictor, ServerSettings(), "model.tar.gz")
    options = {"max_tokens": 8, "greedy": True}
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=60) as client:
        plain = client.post("/generate", json={"sentence": "the cat sat on the", **options}).json()
        with client.stream("POST", "/generate", json={"sentence": "the cat sat on the", **options,
                                                      "stream": True}) as response:
            streamed = [json.loads(line[len("data: "):]) for line in response.iter_lines() if line.startswith("data: ")]
    folder = str(tiny_transformer("gpt2"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    encoded = tokenizer("the cat sat on the", return_tensors="pt")
    generated = model.generate(**encoded, do_sample=False, max_new_tokens=8, pad_token_id=0)
    new = generated[0, encoded["input_ids"].shape[1]:].tolist()
    if tokenizer.eos_token_id in new:
        new = new[:new.index(tokenizer.eos_token_id)]
    assert plain["generated"] == {"tokens": tokenizer.convert_ids_to_tokens(new), "text": tokenizer.decode(new)}
    assert streamed == [*({"token": token} for token in plain["generated"]["tokens"]),
                        {"done": True, "generated": plain["generated"]}]
