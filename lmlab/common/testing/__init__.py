"""Helpers for lmlab's tests and for plugin authors' tests (the CLI runner is `lmlab.commands.testing`)."""
from lmlab.common.testing.plugin import make_plugin_distribution

__all__ = ["make_plugin_distribution"]
