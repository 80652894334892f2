"""`lmlab elmo` (embed a sentence file into hdf5) and `lmlab export_elmo`, end to end."""
import json
from pathlib import Path

import h5py
import numpy
import pytest
import torch

from lmlab.commands import main
from lmlab.commands.testing import run_lmlab
from lmlab.modules.elmo import Elmo, ElmoBiLm, batch_to_ids

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / ".." / "shared" / "fixtures" / "elmo"
ENV = {"LMLAB_FIXTURES": str(ROOT / "fixtures")}
LINES = ["The cat sat on the mat .", "Hello", "A much longer sentence with • in it , to pad the batch .",
         "  Hello  ", "Second line here"]


@pytest.fixture(scope="module")
def model_files():
    if not SHARED.is_dir():
        pytest.skip(f"ELMo fixtures not found at {SHARED}")
    return str(SHARED / "options.json"), str(SHARED / "lm_weights.hdf5")


@pytest.fixture
def sentences(tmp_path) -> Path:
    path = tmp_path / "sentences.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


def _embed(inputs, output, files, *flags):
    options, weights = files
    return main(["elmo", str(inputs), str(output), "--options-file", options, "--weight-file", weights, *flags])


def _read(path):
    with h5py.File(path, "r") as h5file:
        index = json.loads(h5file["sentence_to_index"].asstr()[0])
        return {name: h5file[name][...] for name in h5file if name != "sentence_to_index"}, index


def _alone(bilm, tokens):
    """(L, n, D) activations of one sentence run alone, boundaries dropped."""
    with torch.no_grad():
        layers = torch.stack(bilm(batch_to_ids([tokens]))["activations"])  # (L, 1, n + 2, D)
    return layers[:, 0, 1:-1].numpy()


def test_all_top_and_average_equal_direct_stateless_bilm_calls(model_files, sentences, tmp_path):
    bilm = ElmoBiLm(*model_files, stateful=False)
    expected = [_alone(bilm, line.split()) for line in LINES]
    for flag in ("--all", "--top", "--average"):
        output = tmp_path / f"{flag[2:]}.hdf5"
        assert _embed(sentences, output, model_files, flag, "--batch-size", "2") == 0
        datasets, index = _read(output)
        assert sorted(datasets) == [str(i) for i in range(len(LINES))]
        # the stripped line is the key; a repeated sentence maps to its last line
        assert index == {"The cat sat on the mat .": "0", "Hello": "3",
                         "A much longer sentence with • in it , to pad the batch .": "2", "Second line here": "4"}
        for i, wanted in enumerate(expected):
            wanted = {"--all": wanted, "--top": wanted[-1], "--average": wanted.mean(axis=0)}[flag]
            assert datasets[str(i)].dtype == numpy.float32 and datasets[str(i)].shape == wanted.shape
            assert numpy.allclose(datasets[str(i)], wanted, rtol=0, atol=1e-6), (flag, i)
        assert expected[0].shape == (3, 7, 32)


def test_stateful_reproduces_allennlp_file_order_batches(model_files, sentences, tmp_path):
    output = tmp_path / "stateful.hdf5"
    assert _embed(sentences, output, model_files, "--top", "--batch-size", "2", "--stateful") == 0
    datasets, _ = _read(output)
    bilm = ElmoBiLm(*model_files)  # stateful, run over the file in order, 2 sentences a call
    with torch.no_grad():
        for start in range(0, len(LINES), 2):
            batch = [line.split() for line in LINES[start:start + 2]]
            top = bilm(batch_to_ids(batch))["activations"][-1]
            for row, tokens in enumerate(batch):
                assert numpy.array_equal(datasets[str(start + row)], top[row, 1:len(tokens) + 1].numpy())


def test_bad_lines_are_all_reported_and_nothing_is_written(model_files, tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"fine sentence\n\none two three four\n   \n\xff\xfe\nok\n")
    output = tmp_path / "out" / "vectors.hdf5"
    assert _embed(path, output, model_files, "--all", "--max-tokens", "3") == 1
    assert capsys.readouterr().err.splitlines() == [
        f"lmlab: input error at {path}:2: empty sentence",
        f"lmlab: input error at {path}:3: sentence has 4 tokens, more than --max-tokens 3",
        f"lmlab: input error at {path}:4: empty sentence",
        f"lmlab: input error at {path}:5: not UTF-8 (byte 0)",
    ]
    assert not output.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.txt"]
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert _embed(empty, output, model_files, "--top") == 1
    assert capsys.readouterr().err.strip() == f"lmlab: input error at {empty}: no sentences"
    assert main(["elmo", str(path), str(output), "--top"]) == 2
    assert "need --options-file and --weight-file (or --archive)" in capsys.readouterr().err
    assert not output.exists()


@pytest.fixture(scope="module")
def trained_elmo(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("elmo_lm") / "run"
    overrides = '{"dataset_reader.max_instances": 64, "validation_data_path": null}'  # seconds, not minutes
    result = run_lmlab(["train", ROOT / "fixtures" / "configs" / "elmo_lm_tiny.jsonnet", "-s", run, "-o", overrides],
                       env=ENV)
    assert result.returncode == 0, result.stderr
    return run / "model.tar.gz"


def test_train_your_own_elmo_then_use_it_export_it_and_embed_with_it(trained_elmo, tmp_path):
    from lmlab.models.archival import load_archive
    from lmlab.models.elmo_lm import LanguageModelBiLm, elmo_from_archive

    # (a) straight from the archive, as an Elmo module
    elmo = elmo_from_archive(str(trained_elmo), num_output_representations=2, dropout=0.0)
    ids = batch_to_ids([line.split() for line in LINES])
    with torch.no_grad():
        representations = elmo(ids)["elmo_representations"]
    assert len(representations) == 2 and representations[0].shape == (5, 14, 16)
    assert representations[0][0, :7].abs().sum() > 0 and not representations[0][1, 1:].any()
    adapter = LanguageModelBiLm(load_archive(trained_elmo).model)
    assert isinstance(Elmo(None, None, 1, module=adapter), Elmo)

    # (b) exported by the CLI to bilm-tf files, which ElmoBiLm loads back with the same activations
    options, weights = tmp_path / "options.json", tmp_path / "weights.hdf5"
    assert main(["export_elmo", str(trained_elmo), "--options-file", str(options), "--weight-file", str(weights)]) == 0
    exported = ElmoBiLm(str(options), str(weights), stateful=False)
    with torch.no_grad():
        expected, actual = adapter(ids), exported(ids)
    assert torch.equal(actual["mask"], expected["mask"])
    for layer in range(3):
        assert torch.allclose(actual["activations"][layer], expected["activations"][layer], rtol=0, atol=1e-6)

    # (c) `lmlab elmo --archive` gives the same vectors as the exported files
    sentences = tmp_path / "sentences.txt"
    sentences.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    from_archive, from_files = tmp_path / "a.hdf5", tmp_path / "f.hdf5"
    assert main(["elmo", str(sentences), str(from_archive), "--archive", str(trained_elmo), "--average"]) == 0
    assert _embed(sentences, from_files, (str(options), str(weights)), "--average") == 0
    (archive_vectors, _), (file_vectors, _) = _read(from_archive), _read(from_files)
    for name, vectors in file_vectors.items():
        assert vectors.shape == (len(LINES[int(name)].split()), 16)
        assert numpy.allclose(archive_vectors[name], vectors, rtol=0, atol=1e-6)


def test_export_of_a_model_that_is_not_an_elmo_lm_is_a_one_line_error(tmp_path, capsys):
    from lmlab.common.params import Params
    from lmlab.data import Vocabulary
    from lmlab.models import Model, archive_model

    config = {"dataset_reader": {"type": "simple_language_modeling"},
              "model": {"type": "language_model",
                        "text_field_embedder": {"token_embedders": {"tokens": {"type": "embedding",
                                                                               "embedding_dim": 4}}},
                        "contextualizer": {"type": "lstm", "input_size": 4, "hidden_size": 4}}}
    vocab = Vocabulary(counter={"tokens": {"a": 1}})
    model = Model.from_params(Params(config["model"]), vocab=vocab)
    archive = archive_model(tmp_path, config, model)
    outputs = [str(tmp_path / "o.json"), str(tmp_path / "w.hdf5")]
    assert main(["export_elmo", str(archive), "--options-file", outputs[0], "--weight-file", outputs[1]]) == 2
    assert capsys.readouterr().err.strip() == ("lmlab: config error at model.bidirectional: expected a bidirectional "
                                               "language model (ELMo needs both directions)")
    assert not any(Path(path).exists() for path in outputs)
