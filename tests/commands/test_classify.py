"""`lmlab classify`: two class LMs sharing a vocabulary; the label follows Bayes' rule exactly."""
import json
import math
from pathlib import Path

import pytest

from lmlab.commands.testing import run_lmlab

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
CORPUS = (ROOT / "fixtures" / "data" / "tiny_lm" / "train.txt").read_text().splitlines()
PETS = ("cat", "dog", "puppy", "kitten")


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    root = tmp_path_factory.mktemp("classify")
    pets = [line for line in CORPUS if any(word in line.split() for word in PETS)]
    weather = [line for line in CORPUS if line not in pets]
    (root / "pets.txt").write_text("\n".join(pets) + "\n")
    (root / "weather.txt").write_text("\n".join(weather) + "\n")
    # both class LMs use the vocabulary of the whole corpus, so their likelihoods are comparable
    from lmlab.data.dataset_readers import SimpleLanguageModelingDatasetReader
    from lmlab.data.vocabulary import Vocabulary

    reader = SimpleLanguageModelingDatasetReader(start_tokens=["<s>"], end_tokens=["</s>"])
    Vocabulary.from_instances(reader.read(str(ROOT / "fixtures" / "data" / "tiny_lm" / "train.txt"))) \
        .save_to_files(str(root / "vocabulary"))
    runs = {}
    for name in ("pets", "weather"):
        overrides = {"train_data_path": str(root / f"{name}.txt"), "validation_data_path": None,
                     "vocabulary": {"type": "from_files", "directory": str(root / "vocabulary")},
                     "trainer": {"num_epochs": 6, "validation_metric": "-loss"}}
        result = run_lmlab(["train", CONFIG, "-s", root / name, "-o", json.dumps(overrides)],
                           env={"LMLAB_FIXTURES": str(ROOT / "fixtures")})
        assert result.returncode == 0, result.stderr
        runs[name] = root / name / "model.tar.gz"
    return runs


def test_classify_by_likelihood(archives, tmp_path):
    sentences = ["the puppy chases the kitten .", "the cat sleeps on the mat .", "the rain falls on the field ."]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"sentence": s}) + "\n" for s in sentences) + '{"sentence": ""}\n')
    classes = ["--class", f"pets={archives['pets']}", "--class", f"weather={archives['weather']}"]
    result = run_lmlab(["classify", source, *classes])
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o.get("label") for o in outputs[:2]] == ["pets", "pets"]
    assert outputs[3] == {"error": f'input error at {source}:4: empty "sentence"'}
    for output in outputs[:3]:
        assert sum(output["probabilities"].values()) == pytest.approx(1.0)
        ll = output["log_probabilities"]
        expected = 1 / (1 + math.exp(ll["weather"] - ll["pets"]))
        assert output["probabilities"]["pets"] == pytest.approx(expected, rel=1e-9)
    # the per-class log-likelihoods are exactly the language_model predictor's scores
    for name, archive in archives.items():
        scored = run_lmlab(["predict", archive, source, "--silent", "--output-file", tmp_path / f"{name}.jsonl"])
        assert scored.returncode == 0
        scores = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        for output, score in zip(outputs[:3], scores, strict=False):
            assert output["log_probabilities"][name] == pytest.approx(score["log_probability"], rel=1e-6)
    # a strong prior overrides the likelihood
    biased = run_lmlab(["classify", source, *classes, "--prior", "pets=1e-30", "--prior", "weather=1"])
    assert [json.loads(line).get("label") for line in biased.stdout.splitlines()][:3] == ["weather"] * 3


def test_classify_argument_errors(archives, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"sentence": "the cat ."}\n')
    one = run_lmlab(["classify", source, "--class", f"pets={archives['pets']}"])
    assert one.returncode == 1 and "need at least two classes, found 1" in one.stderr
    bad = run_lmlab(["classify", source, "--class", "pets"])
    assert bad.returncode == 2 and '--class expects NAME=VALUE, found "pets"' in bad.stderr
