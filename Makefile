PYTHON ?= python3
PIP = $(PYTHON) -m pip

.PHONY: install demo test

install:
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q -e '.[test]'

demo: install
	lmlab --version
	lmlab list

test: install
	$(PYTHON) -m pytest -q
