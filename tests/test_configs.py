"""Every config under configs/ passes `lmlab check` (types, keys, value types, defaults) as shipped."""
from pathlib import Path

import pytest

from lmlab.commands.list import import_builtin_components
from lmlab.common.params import Params
from lmlab.training.experiment import check_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
PRUNE_OVERRIDES = CONFIGS / "ldnet" / "conll2000_prune.jsonnet"  # overrides for `lmlab prune`, not a config
TRAINING_CONFIGS = sorted(path for path in CONFIGS.rglob("*.jsonnet") if path != PRUNE_OVERRIDES)


@pytest.mark.parametrize("path", TRAINING_CONFIGS, ids=lambda path: str(path.relative_to(CONFIGS)))
def test_shipped_training_config_checks(path):
    import_builtin_components()
    checked = check_config(Params.from_file(str(path)))
    assert checked["model"]["type"] and checked["trainer"]["num_epochs"] >= 1


def test_prune_overrides_check_on_the_tagger_they_prune():
    import_builtin_components()
    checked = check_config(Params.from_file(str(CONFIGS / "ldnet" / "conll2000_tagger_ldnet.jsonnet"),
                                            PRUNE_OVERRIDES.read_text()))
    assert checked["model"]["layer_selection"]["budget"] == 3
    assert checked["data_loader"]["batches_per_epoch"] == 100
