import pytest
import torch

from lmlab.common import ConfigurationError, InputError, Params
from lmlab.common.from_params import validate
from lmlab.data import Batch, DatasetReader, MaskedLanguageModelingReader, Vocabulary

LINES, WIDTH = 1000, 40


@pytest.fixture(scope="module")
def distinct_file(tmp_path_factory):
    """LINES lines of WIDTH tokens, every token distinct ("l{line}w{word}"), so a replacement is visible."""
    path = tmp_path_factory.mktemp("mlm") / "distinct.txt"
    path.write_text("".join(" ".join(f"l{n}w{i}" for i in range(WIDTH)) + "\n" for n in range(LINES)))
    return str(path)


def masking(instance):
    meta = instance["metadata"].value
    return meta["masked_tokens"], meta["original_tokens"], instance["mask_positions"].array.tolist()


def test_proportions_over_many_tokens(distinct_file):
    reader = MaskedLanguageModelingReader()
    chosen = masked = randomised = kept = 0
    for line, instance in enumerate(reader.read(distinct_file)):
        tokens, original, positions = masking(instance)
        assert instance["target_ids"].tokens == [original[p] for p in positions]
        assert positions == sorted(positions) and len(positions) >= 1
        chosen += len(positions)
        # only chosen positions change
        assert all(tokens[i] == original[i] for i in range(WIDTH) if i not in positions)
        for p in positions:
            if tokens[p] == "[MASK]":
                masked += 1
            elif tokens[p] == original[p]:
                kept += 1
            else:
                randomised += 1
                assert int(tokens[p][1:].split("w")[0]) <= line  # drawn from the file, up to this line
    # 40 000 tokens: the standard error of the chosen fraction is ~0.002, of the split fractions ~0.005
    assert chosen / (LINES * WIDTH) == pytest.approx(0.15, abs=0.01)
    assert masked / chosen == pytest.approx(0.8, abs=0.025)
    assert randomised / chosen == pytest.approx(0.1, abs=0.02)
    assert kept / chosen == pytest.approx(0.1, abs=0.02)


def test_proportions_are_configurable_and_validated(distinct_file, tmp_path):
    reader = MaskedLanguageModelingReader(mask_probability=0.5, replace_with_mask=0.0, replace_with_random=1.0,
                                          max_instances=50)
    instances = list(reader.read(distinct_file))
    assert sum(len(masking(i)[2]) for i in instances) / (50 * WIDTH) == pytest.approx(0.5, abs=0.05)
    assert not any("[MASK]" in masking(i)[0] for i in instances)
    # ... yet the mask token is in the vocabulary, as prediction inputs need it
    vocab = Vocabulary.from_instances(instances)
    assert vocab.get_token_index("[MASK]") != vocab.get_token_index(vocab.oov_token)

    for config, location in (({"replace_with_mask": 0.8, "replace_with_random": 0.3}, "replace_with_random"),
                             ({"mask_probability": 0.0}, "mask_probability"),
                             ({"replace_with_mask": -0.1}, "replace_with_mask"),
                             ({"mask_token": "[ MASK ]"}, "mask_token"),
                             ({"max_sequence_length": 0}, "max_sequence_length"),
                             ({"token_indexers": {"tokens": {"type": "single_id", "start_tokens": ["<s>"]}}},
                              "token_indexers.tokens")):
        with pytest.raises(ConfigurationError) as info:
            DatasetReader.from_params(Params({"type": "masked_language_modeling", **config}, "dataset_reader"))
        assert info.value.problems[0][0] == f"dataset_reader.{location}", config
    with pytest.raises(ConfigurationError, match="at replace_with_random: replace_with_mask . replace_with_random "
                                                 "must be <= 1"):
        validate(DatasetReader, {"type": "masked_language_modeling", "replace_with_mask": 0.8,
                                 "replace_with_random": 0.3})


def test_every_read_gives_the_same_masks_and_a_line_depends_only_on_its_number(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("the cat sat on the mat .\n\nthe dog ran in the big green garden today .\nend of it .\n")
    reader = MaskedLanguageModelingReader(mask_probability=0.3, replace_with_random=0.0)
    first = [masking(i) for i in reader.read(str(path))]
    assert len(first) == 3  # the blank line is skipped
    assert [masking(i) for i in reader.read(str(path))] == first
    assert [masking(i) for i in MaskedLanguageModelingReader(mask_probability=0.3, replace_with_random=0.0)
            .read(str(path))] == first
    # another first line leaves the masks of lines 3 and 4 alone (no random tokens here: those come from
    # the text read so far)
    other = tmp_path / "b.txt"
    other.write_text("a completely different first line\n\nthe dog ran in the big green garden today .\n"
                     "end of it .\n")
    assert [masking(i) for i in reader.read(str(other))][1:] == first[1:]
    different_seed = MaskedLanguageModelingReader(mask_probability=0.3, replace_with_random=0.0, seed=14)
    assert [masking(i) for i in different_seed.read(str(path))] != first
    # text_to_instance of an unmasked sentence is deterministic too
    sentence = "the dog ran in the big green garden today ."
    assert masking(reader.text_to_instance(sentence)) == masking(reader.text_to_instance(sentence))


def test_existing_masks_are_used_as_they_are():
    reader = MaskedLanguageModelingReader()
    instance = reader.text_to_instance("the [MASK] sat on the[MASK] .")
    assert masking(instance) == (["the", "[MASK]", "sat", "on", "the", "[MASK]", "."],
                                 ["the", "[MASK]", "sat", "on", "the", "[MASK]", "."], [1, 5])
    assert "target_ids" not in instance.fields
    with_targets = reader.text_to_instance("the [MASK] sat on the [MASK] .", targets=["cat", "mat"])
    assert with_targets["target_ids"].tokens == ["cat", "mat"]
    assert masking(with_targets)[1] == ["the", "cat", "sat", "on", "the", "mat", "."]
    with pytest.raises(InputError, match="one target per"):
        reader.text_to_instance("the [MASK] sat", targets=["cat", "dog"])
    with pytest.raises(InputError, match="no"):
        reader.text_to_instance("the cat sat", targets=["cat"])
    custom = MaskedLanguageModelingReader(mask_token="<mask>")
    assert masking(custom.text_to_instance("<mask> b <mask>"))[2] == [0, 2]


def test_a_data_line_that_is_already_masked_is_a_located_error(tmp_path):
    path = tmp_path / "masked.txt"
    path.write_text("fine line\nthe [MASK] sat\n")
    with pytest.raises(InputError) as info:
        list(MaskedLanguageModelingReader().read(str(path)))
    assert info.value.problems[0][0] == f"{path}:2"


def test_fields_truncation_and_padding(tmp_path):
    path = tmp_path / "short.txt"
    path.write_text("a b c d e f g h\nx y\n")
    reader = MaskedLanguageModelingReader(mask_probability=0.4, max_sequence_length=6)
    instances = list(reader.read(str(path)))
    assert [len(i["tokens"]) for i in instances] == [6, 2]
    assert list(instances[0].fields) == ["tokens", "mask_positions", "target_ids", "metadata"]
    assert masking(instances[0])[1] == ["a", "b", "c", "d", "e", "f"]
    vocab = Vocabulary.from_instances(instances)
    batch = Batch([reader.text_to_instance("a [MASK] c [MASK] e", targets=["b", "d"]),
                   reader.text_to_instance("[MASK] y", targets=["x"])])
    batch.index_instances(vocab)
    tensors = batch.as_tensor_dict()
    assert tensors["mask_positions"].dtype == torch.int64
    assert tensors["mask_positions"].tolist() == [[1, 3], [0, -1]]
    targets = tensors["target_ids"]["tokens"]["tokens"]
    assert targets.tolist() == [[vocab.get_token_index("b"), vocab.get_token_index("d")],
                                [vocab.get_token_index("x"), 0]]
    assert tensors["tokens"]["tokens"]["tokens"].shape == (2, 5)
    assert tensors["metadata"][1]["original_tokens"] == ["x", "y"]
