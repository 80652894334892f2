from lmlab.commands.testing import run_lmlab
from lmlab.version import VERSION


def test_version_and_help():
    result = run_lmlab(["--version"])
    assert result.returncode == 0 and result.stdout.strip() == f"lmlab {VERSION}"
    result = run_lmlab(["--help"])
    assert result.returncode == 0 and "list" in result.stdout
    assert run_lmlab([]).returncode == 2


def test_every_command_has_help():
    from lmlab.commands import build_parser
    from lmlab.commands.subcommand import Subcommand

    build_parser()
    for name in Subcommand.list_available():
        result = run_lmlab([name, "--help"])
        assert result.returncode == 0, (name, result.stderr)
        assert f"lmlab {name}" in result.stdout


def test_list_unknown_registry_is_a_one_line_config_error():
    result = run_lmlab(["list", "subcomand"])
    assert result.returncode == 2
    assert result.stderr.startswith('lmlab: config error: unknown registry "subcomand"; did you mean "subcommand"?')
    assert len(result.stderr.strip().splitlines()) == 1
