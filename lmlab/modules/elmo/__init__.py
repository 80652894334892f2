"""ELMo (Peters et al., 2018): character ids, the pretrained biLM from bilm-tf files, and scalar-mixed
representations. The weights are read from the original bilm-tf `options.json` and hdf5 files."""
from lmlab.modules.elmo.bilm import BiLm, ElmoBiLm, ElmoLstm
from lmlab.modules.elmo.character_encoder import (
    ElmoCharacterEncoder,
    add_sentence_boundaries,
    load_elmo_options,
    remove_sentence_boundaries,
)
from lmlab.modules.elmo.character_ids import batch_to_ids, tokens_to_char_ids, word_to_char_ids
from lmlab.modules.elmo.elmo import Elmo
from lmlab.modules.elmo.export import export_bilm, export_elmo

__all__ = [
    "BiLm",
    "Elmo",
    "ElmoBiLm",
    "ElmoCharacterEncoder",
    "ElmoLstm",
    "add_sentence_boundaries",
    "batch_to_ids",
    "export_bilm",
    "export_elmo",
    "load_elmo_options",
    "remove_sentence_boundaries",
    "tokens_to_char_ids",
    "word_to_char_ids",
]
