"""crf_tagger: training signal, decoding, metrics, archiving, layer selection and pruned == gated."""
from pathlib import Path

import pytest
import torch

from lmlab.common.errors import ConfigurationError
from lmlab.common.params import Params, merge_overrides
from lmlab.data import Batch, DatasetReader, Vocabulary
from lmlab.data.label_codings import allowed_transitions
from lmlab.models import CrfTagger, Model, archive_model, load_archive
from lmlab.models.testing import write_language_model_archive

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
LM_WORDS = [line.split()[0] for line in (FIXTURES / "data" / "conll" / "train.txt").read_text().splitlines() if line]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(config, reader, instances, vocab) of the tiny LD-Net tagger, with untrained LM archives."""
    root = tmp_path_factory.mktemp("tagger")
    ext_vars = {"LMLAB_FIXTURES": str(FIXTURES),
                "FORWARD_LM": str(write_language_model_archive(root / "f.tar.gz", LM_WORDS, seed=1)),
                "BACKWARD_LM": str(write_language_model_archive(root / "b.tar.gz", LM_WORDS, reverse=True, seed=2))}
    config = Params.from_file(str(FIXTURES / "configs" / "crf_tagger_ldnet_tiny.jsonnet"), ext_vars=ext_vars).as_dict()
    reader = DatasetReader.from_params(Params(config["dataset_reader"], "dataset_reader"))
    instances = list(reader.read(config["train_data_path"]))
    vocab = Vocabulary.from_instances(instances)
    return config, reader, instances, vocab


def build(setup, overrides=None, **options):
    config, _, _, vocab = setup
    torch.manual_seed(0)
    return Model.from_params(Params(merge_overrides(config["model"], {**(overrides or {}), **options}), "model"),
                             vocab=vocab)


def batch(setup, size=8):
    _, _, instances, vocab = setup
    chosen = Batch(instances[:size])
    chosen.index_instances(vocab)
    return chosen.as_tensor_dict()


def test_trains_every_parameter_but_the_frozen_language_models(setup):
    model = build(setup)
    assert isinstance(model, CrfTagger)
    model.train()
    output = model(**batch(setup))
    assert output["loss"].dim() == 0 and output["num_target_tokens"] == output["mask"].sum()
    output["loss"].backward()
    for name, parameter in model.named_parameters():
        if ".language_models." in name:
            assert not parameter.requires_grad, name
        else:
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_decoded_tags_are_well_formed_bioes_and_metrics_have_the_conll_keys(setup):
    model = build(setup).eval()
    with torch.no_grad():
        output = model(**batch(setup, 16))
    allowed = allowed_transitions(model.labels, "BIOES")
    start, end = len(model.labels), len(model.labels) + 1
    for row, length in enumerate(output["mask"].sum(1).tolist()):
        path = output["tags"][row, :length].tolist()
        assert all(allowed[a][b] for a, b in zip([start] + path, path + [end], strict=True))
    metrics = model.get_metrics(reset=True)
    assert {"accuracy", "precision-overall", "recall-overall", "f1-measure-overall", "f1-measure-NP"} <= set(metrics)
    readable = model.make_output_human_readable(output)
    assert readable["labels"][0][0] in model.labels and isinstance(readable["spans"][0], list)


def test_archive_round_trip_predicts_the_same(setup, tmp_path):
    config, reader, _, _ = setup
    model = build(setup, top_k=3).eval()
    filled = {**config, "model": merge_overrides(config["model"], {"top_k": 3})}
    archive_model(tmp_path, filled, model)
    loaded = load_archive(tmp_path / "model.tar.gz").model
    with torch.no_grad():
        expected, found = model(**batch(setup)), loaded(**batch(setup))
    assert torch.allclose(expected["logits"], found["logits"], atol=1e-6)
    assert torch.equal(expected["top_k_tags"], found["top_k_tags"]) and torch.equal(expected["tags"], found["tags"])


def test_layer_selection_adds_the_penalty_trains_the_gates_and_reports_the_budget_metric(setup):
    model = build(setup, layer_selection={"budget": 2, "strength": 0.1})
    model.train()
    gates = model._gates()
    assert gates.shape == (6,) and gates.requires_grad
    penalty = model.get_regularization_penalty()
    assert penalty.item() == pytest.approx(0.1 * 6)  # all gates 1: z(1 - z) = 0, 6 non-zero > budget: 0.1 * 6
    (model(**batch(setup))["loss"] + penalty).backward()
    embedder = model._text_field_embedder.token_embedder("lm_tokens")
    assert all(lm.contextualizer.gates.grad is not None for lm in embedder.language_models)
    metrics = model.get_metrics(reset=True)
    assert metrics["active_layers"] == 6.0 and metrics["f1-measure-within-budget"] == 0.0
    with torch.no_grad():
        for lm in embedder.language_models:
            lm.contextualizer.gates.copy_(torch.tensor([0.0, 0.4, 0.0]))
    model(**batch(setup))
    metrics = model.get_metrics(reset=True)
    assert metrics["active_layers"] == 2.0
    assert metrics["f1-measure-within-budget"] == metrics["f1-measure-overall"]


@pytest.mark.cross_path
def test_pruned_model_computes_exactly_what_the_gated_model_computed(setup):
    model = build(setup, layer_selection={"budget": 2}, top_k=2).eval()
    embedder = model._text_field_embedder.token_embedder("lm_tokens")
    with torch.no_grad():
        embedder.language_models[0].contextualizer.gates.copy_(torch.tensor([0.0, 0.6, 0.0]))
        embedder.language_models[1].contextualizer.gates.copy_(torch.tensor([0.9, 0.0, 0.0]))
        gated = model(**batch(setup, 16))
        model.prune()
        pruned = model(**batch(setup, 16))
    assert model.kept_layers() == [[[1], [0]]]
    assert embedder.projection.in_features == (8 + 6) * 2
    # two paths: the pruned projection drops the closed layers' columns and so sums fewer products, in another
    # order; float32 rounding of sums of O(1) terms leaves ~1e-6. The Viterbi tags decide between paths whose
    # scores differ by far more than that, so they are equal.
    assert torch.allclose(gated["logits"], pruned["logits"], atol=1e-5)
    for key in ("tags", "top_k_tags"):
        assert torch.equal(gated[key], pruned[key])


@pytest.mark.parametrize("overrides,location,message", [
    ({"label_encoding": "BIO"}, "label_encoding", 'label "E-NP" is not valid in the BIO coding'),
    ({"label_encoding": None, "layer_selection": {"budget": 1}}, "layer_selection", "set label_encoding"),
    ({"text_field_embedder.token_embedders.lm_tokens": {"type": "embedding", "embedding_dim": 10},
      "layer_selection": {"budget": 1}}, "layer_selection", "needs a \"language_model_token_embedder\""),
    ({"encoder": {"input_size": 3}}, "encoder", "text_field_embedder output dim 38 != encoder input dim 3"),
])
def test_config_mistakes_are_located(setup, overrides, location, message):
    with pytest.raises(ConfigurationError) as info:
        build(setup, overrides)
    where, text = info.value.problems[0]
    assert where == f"model.{location}" and message in text


def test_layer_selection_objective_is_ldnets_nll_per_sentence_plus_lambda0_times_the_regulariser(setup):
    model = build(setup, layer_selection={"budget": 2, "strength": 0.05})
    model.eval()  # no dropout: the data term is a function of the inputs alone
    embedder = model._text_field_embedder.token_embedder("lm_tokens")
    with torch.no_grad():
        embedder.language_models[0].contextualizer.gates.copy_(torch.tensor([0.5, 1.0, 0.0]))
        embedder.language_models[1].contextualizer.gates.copy_(torch.tensor([0.25, 0.0, 0.0]))
    tensors = batch(setup, 3)
    output = model(**tensors)
    objective = output["loss"] + model.get_regularization_penalty()
    # LD-Net (prune_sparse_seq.py): CRFLoss(average_batch=True) = (log Z - gold score) summed over the batch / B,
    # plus lambda_0 * sum z(1 - z), plus lambda_0 * sum of the non-zero z while more than lambda_1 are non-zero
    logits, mask, tags = output["logits"].detach(), output["mask"], tensors["tags"]
    with torch.no_grad():
        nll = [float(model.crf.log_partition(logits[b:b + 1], mask[b:b + 1])
                     - model.crf.score(logits[b:b + 1], tags[b:b + 1], mask[b:b + 1])) for b in range(3)]
    z_one_minus_z = 0.5 * 0.5 + 1.0 * 0.0 + 0.25 * 0.75  # the zero gates add 0
    over_budget = 0.5 + 1.0 + 0.25  # three non-zero gates > lambda_1 = 2
    assert objective.item() == pytest.approx(sum(nll) / 3 + 0.05 * (z_one_minus_z + over_budget), rel=1e-6)
    assert int(output["num_target_tokens"]) == 3
    # per sentence, not per token: a batch of one short and one long sentence weighs them alike
    lengths = mask.sum(1).tolist()
    assert lengths[0] != lengths[1]
    pair = {key: value[:2] if isinstance(value, torch.Tensor) else value for key, value in tensors.items()}
    pair["tokens"] = {name: {k: v[:2] for k, v in fields.items()} for name, fields in tensors["tokens"].items()}
    assert model(**pair)["loss"].item() == pytest.approx((nll[0] + nll[1]) / 2, rel=1e-6)


def test_cached_lm_features_train_to_the_same_weights_without_running_the_lms_again(setup):
    """Three epochs of the same batches (with validation passes under inference mode between them): with the
    feature cache the LMs run in the first epoch only, and every weight ends up exactly as without it."""
    _, _, instances, vocab = setup

    def train(cache_mb):
        model = build(setup, {"text_field_embedder.token_embedders.lm_tokens.feature_cache_mb": cache_mb})
        calls = []
        for language_model in model._text_field_embedder.token_embedder("lm_tokens").language_models:
            language_model.register_forward_hook(lambda *_: calls.append(1))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        batches = []
        for start in range(0, 24, 8):
            chosen = Batch(instances[start:start + 8])
            chosen.index_instances(vocab)
            batches.append(chosen.as_tensor_dict())
        per_epoch = []
        for _ in range(3):
            model.train()
            for tensors in batches:
                optimizer.zero_grad()
                model(**tensors)["loss"].backward()
                optimizer.step()
            model.eval()
            with torch.inference_mode():
                model(**batches[0])
            per_epoch.append(len(calls))
            calls.clear()
        return model.state_dict(), per_epoch

    uncached, uncached_calls = train(0)
    cached, cached_calls = train(16)
    assert uncached_calls == [8, 8, 8]  # two LMs x (3 training batches + 1 validation batch)
    assert cached_calls == [6, 0, 0]  # the validation batch was a training batch: stored already
    assert uncached.keys() == cached.keys()
    for key, value in uncached.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, cached[key]), key
