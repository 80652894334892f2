"""Every config under configs/ passes `lmlab check` (types, keys, value types, defaults) as shipped."""
from pathlib import Path

import pytest

from lmlab.commands.list import import_builtin_components
from lmlab.common.params import Params, evaluate_jsonnet
from lmlab.training.experiment import check_config
from lmlab.training.pruning import selection_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRUNE_OVERRIDES = CONFIGS / "ldnet" / "conll2000_prune.jsonnet"  # overrides for `lmlab prune`, not a config
TRAINING_CONFIGS = sorted(path for path in CONFIGS.rglob("*.jsonnet") if path != PRUNE_OVERRIDES)


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda path: str(path.relative_to(CONFIGS)))
def test_shipped_training_config_checks(path):
    import_builtin_components()
    checked = check_config(Params.from_file(str(path), ext_vars=_ext_vars(path)))
    # a pretrained model archived as it is (configs/transformers) trains for 0 epochs on no data
    assert checked["model"]["type"] and (checked["trainer"]["num_epochs"] >= 1 or checked["train_data_path"] is None)


def _ext_vars(path):
    """HF_MODEL for configs/transformers: a tiny local causal LM for the next-token configs, else a masked LM."""
    if path.parent.name != "transformers":
        return {}
    from lmlab.common.testing.tiny_transformers import tiny_transformer

    causal = "next_token" in path.name or "causal" in path.name
    return {"HF_MODEL": str(tiny_transformer("gpt2" if causal else "bert"))}


def test_prune_overrides_check_on_the_tagger_they_prune():
    import_builtin_components()
    tagger = Params.from_file(str(CONFIGS / "ldnet" / "conll2000_tagger_ldnet.jsonnet")).as_dict()
    config, errors = selection_config(tagger, evaluate_jsonnet(snippet=PRUNE_OVERRIDES.read_text()))
    assert errors == []
    checked = check_config(Params(config))
    assert checked["model"]["layer_selection"] == {"budget": 3, "strength": 0.05}
    # LD-Net's prune_sparse_seq.py: SGD with momentum 0.9 at 0.015, lr / (1 + 0.05 epochs), clip 5, batches of 10
    trainer = checked["trainer"]
    assert trainer["optimizer"]["type"] == "sgd" and trainer["optimizer"]["lr"] == 0.015
    assert trainer["optimizer"]["momentum"] == 0.9 and trainer["grad_norm"] == 5.0
    assert trainer["learning_rate_scheduler"] == {"type": "inverse_time", "decay": 0.05}
    assert trainer["patience"] is None and checked["data_loader"]["batch_size"] == 10
