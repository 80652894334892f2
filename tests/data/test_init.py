import ast
import os

import lmlab.data
from lmlab.common.registrable import registry_bases

DATA_DIR = os.path.dirname(lmlab.data.__file__)


def test_import_registers_every_data_registry():
    names = {base.registry_name() for base in registry_bases()}
    assert {"data_loader", "dataset_reader", "token_indexer", "tokenizer", "vocabulary"} <= names


def test_spacy_is_never_imported_at_module_level():
    # A module-level `import spacy` would make `import lmlab` pay for spaCy (and thinc, and torch).
    for folder, _, files in os.walk(DATA_DIR):
        for name in files:
            if not name.endswith(".py"):
                continue
            tree = ast.parse(open(os.path.join(folder, name), encoding="utf-8").read())
            for node in tree.body:
                if isinstance(node, ast.Import):
                    modules = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    modules = [node.module or ""]
                else:
                    continue
                assert not any(m.split(".")[0] == "spacy" for m in modules), f"{name} imports spacy at import time"
