"""Models on pretrained transformers: the CRF tagger config, and a causal LM's per-piece and per-word
perplexity against transformers' own log-likelihoods."""
import json
import math
import shutil
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from lmlab.commands.testing import run_lmlab  # noqa: E402
from lmlab.common.testing.tiny_transformers import tiny_transformer  # noqa: E402
from lmlab.data.batch import Batch  # noqa: E402
from lmlab.models.archival import load_archive  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "transformers"


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LMLAB_CACHE", str(tmp_path / "cache"))


def test_conll2000_tagger_trains_on_mismatched_features_and_tags_after_the_folder_is_gone(tmp_path):
    given = tmp_path / "bert"
    shutil.copytree(tiny_transformer("bert"), given)
    split = {"dataset_reader.dev_split.sentences": 5, "validation_dataset_reader.dev_split.sentences": 5,
             "trainer.num_epochs": 1, "trainer.learning_rate_scheduler.warmup_steps": 2}
    result = run_lmlab(["train", CONFIGS / "conll2000_tagger.jsonnet", "-s", tmp_path / "run", "-o", json.dumps(split)],
                       env={"HF_MODEL": str(given), "CONLL2000_DIR": str(ROOT / "fixtures" / "data" / "conll")})
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "test_f1-measure-overall" in metrics
    shutil.rmtree(given)
    result = run_lmlab(["predict", tmp_path / "run" / "model.tar.gz", "-"],
                       stdin=json.dumps({"sentence": "the dog gives anna a catastrophe ."}) + "\n")
    assert result.returncode == 0, result.stderr
    output = json.loads(result.stdout)
    assert len(output["tags"]) == 7 and output["tokens"][5] == "catastrophe"


def test_causal_lm_perplexity_per_piece_and_per_word_equal_transformers(tmp_path):
    given = tmp_path / "gpt2"
    shutil.copytree(tiny_transformer("gpt2"), given)
    result = run_lmlab(["train", CONFIGS / "next_token_lm.jsonnet", "-s", tmp_path / "run"],
                       env={"HF_MODEL": str(given)})
    assert result.returncode == 0, result.stderr
    archive = load_archive(tmp_path / "run" / "model.tar.gz")
    sentences = ["the cat sat on the mat .", "we cut the potatoes"]
    instances = [archive.dataset_reader.text_to_instance(sentence) for sentence in sentences]
    for instance in instances:
        instance.index_fields(archive.model.vocab)
    with torch.no_grad():
        archive.model(**Batch(instances).as_tensor_dict())
    metrics = archive.model.get_metrics(reset=True)

    folder = str(tiny_transformer("gpt2"))
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    nll, pieces, words = 0.0, 0, 0
    for sentence in sentences:
        ids = tokenizer(sentence)["input_ids"] + [tokenizer.eos_token_id]  # the config's end token
        with torch.no_grad():
            log_probs = model(input_ids=torch.tensor([ids])).logits[0, :-1].log_softmax(-1)
        nll -= log_probs.gather(1, torch.tensor(ids[1:])[:, None]).sum().item()
        pieces += len(ids) - 1
        words += len(sentence.split())  # every word but the first is a target, and so is the end token
    assert metrics["perplexity"] == pytest.approx(math.exp(nll / pieces), rel=1e-5)
    assert metrics["word_perplexity"] == pytest.approx(math.exp(nll / words), rel=1e-5)
