"""Archives: round trip, recorded plugin distributions, no re-reading of pretrained files."""
import json
import os
import tarfile
from pathlib import Path

import torch

from lmlab.commands.testing import run_lmlab
from lmlab.common.params import Params
from lmlab.common.testing import make_plugin_distribution
from lmlab.data import Batch, Instance, TextField
from lmlab.data.token_indexers import SingleIdTokenIndexer
from lmlab.models.archival import load_archive
from lmlab.training.experiment import train_model

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "fixtures" / "configs" / "lm_tiny.jsonnet"
FIXTURES = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}

ENCODER_PLUGIN = '''
import torch
from lmlab.modules.seq2seq_encoders import Seq2SeqEncoder


@Seq2SeqEncoder.register("running_mean")
class RunningMean(Seq2SeqEncoder):
    """Causal running mean of the inputs, then a linear layer.

    Inputs: inputs (B, T, H), mask (B, T) bool.  Outputs: (B, T, H), zeros at padding.
    """

    def __init__(self, input_dim: int) -> None:
        super().__init__()
        self.input_dim = input_dim
        self.linear = torch.nn.Linear(input_dim, input_dim)

    def forward(self, inputs, mask):
        inputs = inputs * mask.unsqueeze(-1)
        counts = mask.cumsum(1).clamp(min=1).unsqueeze(-1)
        return self.linear(inputs.cumsum(1) / counts) * mask.unsqueeze(-1)

    def get_input_dim(self): return self.input_dim
    def get_output_dim(self): return self.input_dim
    def is_bidirectional(self): return False
    def no_peeking(self): return True
'''


def _sentences_batch(model, sentences):
    instances = [Instance({"source": TextField(["<s>", *s.split(), "</s>"], {"tokens": SingleIdTokenIndexer()})})
                 for s in sentences]
    for instance in instances:
        instance.index_fields(model.vocab)
    return Batch(instances).as_tensor_dict()


def test_archive_round_trip_gives_identical_outputs(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    params = Params.from_file(str(CONFIG), overrides='{"trainer.num_epochs": 1, "trainer.progress_bar": false}')
    model = train_model(params, str(tmp_path / "run")).eval()
    archive = load_archive(tmp_path / "run" / "model.tar.gz")
    assert archive.model.vocab == model.vocab
    assert not archive.model.training
    batch = _sentences_batch(model, ["the cat sat on the mat .", "a dog"])
    with torch.no_grad():
        expected, actual = model(**batch), archive.model(**batch)
    assert torch.equal(expected["lm_embeddings"], actual["lm_embeddings"])
    assert torch.equal(expected["loss"], actual["loss"])
    assert archive.config["model"]["contextualizer"]["type"] == "lstm"


def test_pretrained_embedding_file_is_not_needed_to_load_an_archive(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    vectors = tmp_path / "vectors.txt"
    vectors.write_text("the " + " ".join(["0.5"] * 16) + "\ncat " + " ".join(["-0.25"] * 16) + "\n")
    overrides = {"trainer": {"num_epochs": 1, "progress_bar": False},
                 "model": {"text_field_embedder": {"token_embedders": {"tokens": {"pretrained_file": str(vectors)}}}}}
    train_model(Params.from_file(str(CONFIG), overrides=json.dumps(overrides)), str(tmp_path / "run"))
    vectors.unlink()
    archive = load_archive(tmp_path / "run" / "model.tar.gz")
    assert archive.model.vocab.get_vocab_size() > 100


def test_plugin_component_in_config_is_recorded_and_required(tmp_path):
    site = make_plugin_distribution(tmp_path / "site", "lmlab-encoders",
                                    {"lmlab_encoders/__init__.py": ENCODER_PLUGIN}, {"encoders": "lmlab_encoders"},
                                    version="1.2.3")
    env = {**FIXTURES, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    overrides = json.dumps({"model.contextualizer": {"type": "running_mean", "input_dim": 16},
                            "trainer.num_epochs": 1})
    trained = run_lmlab(["train", CONFIG, "-s", tmp_path / "run", "-o", overrides], env=env)
    assert trained.returncode == 0, trained.stderr
    with tarfile.open(tmp_path / "run" / "model.tar.gz") as tar:
        meta = json.loads(tar.extractfile("meta.json").read())
    assert meta["plugins"] == [{"name": "lmlab-encoders", "version": "1.2.3"}]
    valid = ROOT / "fixtures" / "data" / "tiny_lm" / "valid.txt"
    assert run_lmlab(["evaluate", tmp_path / "run" / "model.tar.gz", valid], env=env).returncode == 0
    without = run_lmlab(["evaluate", tmp_path / "run" / "model.tar.gz", valid], env=FIXTURES)
    assert without.returncode == 1
    assert without.stderr.strip().endswith("needs the plugin distribution lmlab-encoders (version 1.2.3 was used); "
                                           "install it: pip install 'lmlab-encoders==1.2.3'")
