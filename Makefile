PYTHON ?= python3
PIP = $(PYTHON) -m pip
RUN ?= runs/quickstart

.PHONY: install browser demo lint test

# torch is pinned to the CPU wheel (requirements.txt); an unpinned torch pulls several GB of CUDA packages.
install:
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q -e '.[test,transformers]'

# Train the quickstart LM on the bundled corpus, then predict with it.
demo: install
	lmlab train configs/quickstart.jsonnet -s $(RUN) --force
	lmlab predict $(RUN)/model.tar.gz fixtures/demo_inputs.jsonl

# Headless Chromium and its WebDriver (Debian packages) for the serving page's browser test; sudo only when
# not root. Where they cannot be installed the browser test skips and says why.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; \
	} || echo "could not install chromium and chromium-driver: the browser test will be skipped"

# ruff (pyflakes, pycodestyle, bugbear, isort rules) and mypy, configured in pyproject.toml; kept at zero.
lint: install
	$(PYTHON) -m ruff check lmlab tests benchmarks
	$(PYTHON) -m mypy lmlab

# Then the tests that compare two code paths (marked cross_path) again under every other CPU kernel level torch
# can use here (ATEN_CPU_CAPABILITY = default, avx2, avx512 where the CPU has it): an equality that holds on one
# SIMD kernel set only fails here, not on a user's machine.
test: install browser lint
	$(PYTHON) -m pytest -q
	@for level in $$($(PYTHON) tests/kernel_levels.py); do \
	  echo "cross_path tests under ATEN_CPU_CAPABILITY=$$level"; \
	  ATEN_CPU_CAPABILITY=$$level $(PYTHON) -m pytest -q -m cross_path || exit 1; \
	done
