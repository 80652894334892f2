"""Helpers for lmlab's tests and for plugin authors' tests."""
from lmlab.common.testing.cli import run_lmlab
from lmlab.common.testing.plugin import make_plugin_distribution

__all__ = ["make_plugin_distribution", "run_lmlab"]
