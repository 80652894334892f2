import sys

import pytest

from lmlab.common.errors import ConfigurationError
from lmlab.common.params import Params
from lmlab.data.tokenizers import Tokenizer


def test_without_transformers_a_config_that_needs_them_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` raises ImportError
    with pytest.raises(ConfigurationError) as info:
        Tokenizer.from_params(Params({"type": "pretrained_transformer", "model_name": "/nowhere/not-cached"},
                                     "dataset_reader.tokenizer"))
    assert str(info.value).startswith("config error at dataset_reader.tokenizer: pretrained transformers need "
                                      "the optional dependencies: pip install 'lmlab[transformers]'")
