PYTHON ?= python3
PIP = $(PYTHON) -m pip
RUN ?= runs/quickstart

.PHONY: install demo test

# torch is pinned to the CPU wheel (requirements.txt); an unpinned torch pulls several GB of CUDA packages.
install:
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q -e '.[test]'

# Train the quickstart LM on the bundled corpus, then predict with it.
demo: install
	lmlab train configs/quickstart.jsonnet -s $(RUN) --force
	lmlab predict $(RUN)/model.tar.gz fixtures/demo_inputs.jsonl

test: install
	$(PYTHON) -m pytest -q
