import os
import re

from lmlab.commands.testing import run_lmlab
from lmlab.common.testing import make_plugin_distribution

PLUGIN = '''
from lmlab.commands.subcommand import Subcommand


@Subcommand.register("hello")
class Hello(Subcommand):
    """Say hello (from a plugin)."""

    def add_subparser(self, subparsers, parents):
        parser = subparsers.add_parser("hello", parents=parents, help="say hello")
        parser.add_argument("--name", default="world")
        return parser

    def run(self, args):
        print(f"hello {args.name}")
        return 0
'''


def _env(*paths):
    return {"PYTHONPATH": os.pathsep.join([*map(str, paths), os.environ.get("PYTHONPATH", "")])}


def test_plugin_discovered_through_entry_point_adds_a_command(tmp_path):
    make_plugin_distribution(tmp_path / "site", "lmlab-hello", {"lmlab_hello/__init__.py": PLUGIN},
                             {"hello": "lmlab_hello"})
    result = run_lmlab(["hello", "--name", "plugin"], env=_env(tmp_path / "site"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello plugin\n"
    listing = run_lmlab(["list", "subcommand"], env=_env(tmp_path / "site"))
    assert re.search(r"^  hello +Say hello \(from a plugin\)\.  \[lmlab_hello\]$", listing.stdout, re.M)


def test_broken_plugin_is_named_and_does_not_hide_the_others(tmp_path):
    make_plugin_distribution(tmp_path / "good", "lmlab-hello", {"lmlab_hello/__init__.py": PLUGIN},
                             {"hello": "lmlab_hello"})
    make_plugin_distribution(tmp_path / "bad", "lmlab-broken", {"lmlab_broken.py": "raise RuntimeError('boom')\n"},
                             {"broken": "lmlab_broken"})
    result = run_lmlab(["hello"], env=_env(tmp_path / "bad", tmp_path / "good"))
    assert result.returncode == 0
    assert result.stdout == "hello world\n"
    assert 'plugin "broken" (lmlab_broken) failed to import: RuntimeError: boom' in result.stderr


def test_include_package_imports_a_local_package(tmp_path):
    (tmp_path / "localpkg").mkdir()
    (tmp_path / "localpkg" / "__init__.py").write_text("")
    (tmp_path / "localpkg" / "commands.py").write_text(PLUGIN)
    result = run_lmlab(["hello", "--include-package", "localpkg"], env=_env(tmp_path))
    assert result.returncode == 0 and result.stdout == "hello world\n", result.stderr
    missing = run_lmlab(["list", "--include-package", "no_such_pkg_xyz"])
    assert missing.returncode == 2
    assert missing.stderr.startswith('lmlab: config error: cannot import --include-package "no_such_pkg_xyz"')
