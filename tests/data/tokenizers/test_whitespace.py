from lmlab.common import Params
from lmlab.data import Tokenizer, WhitespaceTokenizer


def test_splits_on_runs_of_whitespace():
    tokenizer = WhitespaceTokenizer()
    assert tokenizer.tokenize("  the cat\tsat\n on  the mat .\r\n") == ["the", "cat", "sat", "on", "the", "mat", "."]
    assert tokenizer.tokenize("") == []
    assert tokenizer.batch_tokenize(["a b", "", "Don't stop, Mr. Smith!"]) == [
        ["a", "b"], [], ["Don't", "stop,", "Mr.", "Smith!"]]


def test_is_the_default_tokenizer():
    assert isinstance(Tokenizer.from_params(Params({})), WhitespaceTokenizer)
    assert Tokenizer.list_available()[0] == "whitespace"
