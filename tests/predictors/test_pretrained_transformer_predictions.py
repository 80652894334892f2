"""Pretrained transformers end to end: `lmlab train` (no data, num_epochs 0) on configs/transformers, then the
archive's predictions against transformers' own, after the model folder is deleted."""
import json
import shutil
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlab.commands.testing import run_lmlab  # noqa: E402
from lmlab.common.testing.tiny_transformers import tiny_transformer  # noqa: E402
from lmlab.models.archival import load_archive  # noqa: E402
from lmlab.predictors import Predictor  # noqa: E402

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "transformers"


def _archive(family, config, directory, cache):
    """(archive path, the model folder's own copy, kept for reference) after the folder given to `lmlab
    train` has been deleted."""
    given = directory / "model"
    shutil.copytree(tiny_transformer(family), given)
    result = run_lmlab(["train", CONFIGS / config, "-s", directory / "run"],
                       env={"HF_MODEL": str(given), "LMLAB_CACHE": str(cache)})
    assert result.returncode == 0, result.stderr
    shutil.rmtree(given)
    return directory / "run" / "model.tar.gz", str(tiny_transformer(family))


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLAB_CACHE", str(tmp_path / "cache"))


@pytest.mark.parametrize("family", ["bert", "roberta"])
def test_masked_lm_fillers_equal_transformers_after_the_folder_is_gone(family, tmp_path):
    archive_path, folder = _archive(family, "masked_lm.jsonnet", tmp_path, tmp_path / "cache")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    sentence = f"the cat sat on the {tokenizer.mask_token} ."
    result = run_lmlab(["predict", archive_path, "-"], stdin=json.dumps({"sentence": sentence, "top_k": 10}) + "\n")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout.splitlines()[0])
    fillers = output["fillers"][0]
    assert len(fillers) == 10

    model = transformers.AutoModelForMaskedLM.from_pretrained(folder).eval()
    encoded = tokenizer(sentence, return_tensors="pt")
    position = int((encoded["input_ids"][0] == tokenizer.mask_token_id).nonzero())
    assert output["mask_positions"] == [position]
    with torch.no_grad():
        probabilities = model(**encoded).logits[0, position].softmax(-1)
    probabilities[tokenizer.all_special_ids] = -1  # special tokens are never proposed
    top = probabilities.topk(10)
    expected = [(tokenizer.convert_ids_to_tokens(i), p) for p, i in zip(top.values.tolist(), top.indices.tolist(),
                                                                          strict=True)]
    assert [filler["token"] for filler in fillers] == [token for token, _ in expected]
    for filler, (_, probability) in zip(fillers, expected, strict=True):
        assert abs(filler["probability"] - probability) < 1e-5


def test_next_token_probabilities_and_greedy_generation_equal_transformers(tmp_path):
    archive_path, folder = _archive("gpt2", "next_token_lm.jsonnet", tmp_path, tmp_path / "cache")
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    sentences = ["the cat sat on the", "we cut the potatoes and", "a"]
    lines = [json.dumps({"sentence": sentence, "top_k": 5, "generate": {"greedy": True, "max_tokens": 12}})
             for sentence in sentences]
    result = run_lmlab(["predict", archive_path, "-"], stdin="\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    for sentence, output in zip(sentences, outputs, strict=True):
        encoded = tokenizer(sentence, return_tensors="pt")
        with torch.no_grad():
            probabilities = model(**encoded).logits[0, -1].softmax(-1)
            generated = model.generate(**encoded, do_sample=False, max_new_tokens=12, pad_token_id=0)
        top = probabilities.topk(5)
        assert [t["token"] for t in output["next_tokens"]] == tokenizer.convert_ids_to_tokens(top.indices.tolist())
        for token, probability in zip(output["next_tokens"], top.values.tolist(), strict=True):
            assert abs(token["probability"] - probability) < 1e-5
        new = generated[0, encoded["input_ids"].shape[1]:].tolist()
        if tokenizer.eos_token_id in new:  # lmlab ends the continuation there, without the end token
            new = new[:new.index(tokenizer.eos_token_id)]
        assert output["generated"]["tokens"] == tokenizer.convert_ids_to_tokens(new)
        assert output["generated"]["text"] == tokenizer.decode(new)


def test_generation_steps_with_the_key_value_cache_as_a_rerun_does(tmp_path):
    archive_path, _ = _archive("gpt2", "next_token_lm.jsonnet", tmp_path, tmp_path / "cache")
    archive = load_archive(archive_path)
    assert archive.model.can_step()
    requests = [{"sentence": "the cat sat on the", "generate": {"max_tokens": 10, "seed": 3}},
                {"sentence": "we cut the potatoes and put them in the pot .",
                 "generate": {"max_tokens": 10, "seed": 4}}]
    stepped = Predictor.from_archive(archive).predict_batch_json(requests)
    rerun = Predictor.from_archive(archive, incremental=False).predict_batch_json(requests)
    assert [o["generated"] for o in stepped] == [o["generated"] for o in rerun]
