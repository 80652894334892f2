import json
from pathlib import Path

import torch

from lmlab.commands.testing import run_lmlab
from lmlab.common.params import Params
from lmlab.data.vocabulary import Vocabulary
from lmlab.modules.language_model_heads import LanguageModelHead

ROOT = Path(__file__).resolve().parents[3]


def test_a_softmax_loss_as_head_gives_its_log_probabilities():
    vocab = Vocabulary(counter={"tokens": {"a": 3, "b": 2, "c": 1}})
    head = LanguageModelHead.from_params(Params({"type": "softmax_loss", "input_dim": 4, "softmax_loss": {
        "type": "adaptive_softmax", "cutoffs": [3], "div_value": 2.0}}), vocab=vocab)
    hidden = torch.randn(2, 3, 4)
    log_probs = head(hidden)  # (2, 3, V)
    assert log_probs.shape == (2, 3, 5)
    assert torch.allclose(log_probs, head.softmax_loss.log_probs(hidden))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(2, 3), atol=1e-5)


def test_a_masked_lm_trains_with_a_language_models_softmax(tmp_path):
    head = {"type": "softmax_loss", "input_dim": 64, "softmax_loss": {"type": "softmax"}}
    result = run_lmlab(["train", ROOT / "fixtures" / "configs" / "mlm_tiny.jsonnet", "-s", tmp_path / "run",
                        "-o", json.dumps({"model.language_model_head": head, "trainer.num_epochs": 1})],
                       env={"LMLAB_FIXTURES": str(ROOT / "fixtures")})
    assert result.returncode == 0, result.stderr
    result = run_lmlab(["predict", tmp_path / "run" / "model.tar.gz", "-"],
                       stdin=json.dumps({"sentence": "the cat [MASK] the dog ."}) + "\n")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["fillers"][0]) == 5
