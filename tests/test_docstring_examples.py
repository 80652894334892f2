"""The examples in the docstrings of the components a user configures first run, and give what they show.

Each listed class must carry an example; `doctest` runs every example of its module from the repository
root (the ELMo example reads the tiny bilm-tf files under fixtures/elmo/).
"""
import doctest
import importlib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTED = {  # module -> the classes in it whose docstring must hold a runnable example
    "lmlab.data.dataset_readers.simple_language_modeling": ["SimpleLanguageModelingDatasetReader"],
    "lmlab.data.dataset_readers.contiguous_language_modeling": ["ContiguousLanguageModelingReader"],
    "lmlab.data.dataset_readers.masked_language_modeling": ["MaskedLanguageModelingReader"],
    "lmlab.data.dataset_readers.conll": ["ConllDatasetReader"],
    "lmlab.models.language_model": ["LanguageModel"],
    "lmlab.models.crf_tagger": ["CrfTagger"],
    "lmlab.modules.seq2seq_encoders.lstm": ["LstmSeq2SeqEncoder", "GruSeq2SeqEncoder"],
    "lmlab.modules.seq2seq_encoders.transformer": ["CausalTransformerEncoder"],
    "lmlab.modules.seq2seq_encoders.ld_rnn": ["LdRnn"],
    "lmlab.modules.softmax_losses.softmax": ["FullSoftmaxLoss"],
    "lmlab.modules.softmax_losses.sampled_softmax": ["SampledSoftmaxLoss"],
    "lmlab.modules.softmax_losses.adaptive_softmax": ["AdaptiveSoftmaxLoss"],
    "lmlab.modules.elmo.elmo": ["Elmo"],
    "lmlab.predictors.language_model": ["LanguageModelPredictor"],
    "lmlab.predictors.sentence_tagger": ["SentenceTaggerPredictor"],
}


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_docstring_examples_run(module_name, monkeypatch):
    monkeypatch.chdir(ROOT)
    torch.manual_seed(0)
    module = importlib.import_module(module_name)
    tests = {test.name.rsplit(".", 1)[-1]: test for test in doctest.DocTestFinder().find(module)
             if test.examples}
    assert set(DOCUMENTED[module_name]) <= set(tests), f"no example in {set(DOCUMENTED[module_name]) - set(tests)}"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in tests.values():
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
