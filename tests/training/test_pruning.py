"""`selection_config`: a prune's run config, and the schedules it drops (inherited) or refuses (overridden)."""
from lmlab.commands.list import import_builtin_components
from lmlab.training.pruning import selection_config

TAGGER = {
    "model": {"type": "crf_tagger", "layer_selection": None},
    "validation_data_path": "dev.txt",
    "trainer": {"patience": 6, "learning_rate_scheduler": {"type": "reduce_on_plateau", "factor": 0.5},
                "validation_metric": "+f1-measure-overall"},
}


def test_the_taggers_own_plateau_schedule_and_patience_are_dropped_and_selection_is_set_up():
    import_builtin_components()
    config, errors = selection_config(TAGGER, {"model.layer_selection": {"budget": 3}})
    assert errors == []
    trainer = config["trainer"]
    assert trainer["patience"] is None and trainer["learning_rate_scheduler"] is None
    assert trainer["validation_metric"] == "+f1-measure-within-budget"
    assert trainer["callbacks"] == [{"type": "clip_gates"}]
    # a schedule by epoch is kept, whoever set it
    config, errors = selection_config(TAGGER, {"model.layer_selection": {"budget": 3},
                                               "trainer.learning_rate_scheduler": {"type": "inverse_time"}})
    assert errors == [] and config["trainer"]["learning_rate_scheduler"] == {"type": "inverse_time"}


def test_overrides_that_set_a_within_budget_driven_schedule_are_refused_with_their_keys():
    import_builtin_components()
    _, errors = selection_config(TAGGER, {"model.layer_selection": {"budget": 3}, "trainer.patience": 2,
                                          "trainer.learning_rate_scheduler.factor": 0.1})
    assert [error.problems[0][0] for error in errors] == ["trainer.patience", "trainer.learning_rate_scheduler"]
    _, errors = selection_config(TAGGER, {})
    assert [error.problems[0][0] for error in errors] == ["model.layer_selection"]
