"""Plugin discovery.

A plugin is an installed distribution that declares modules in the entry-point group `lmlab.plugins`:

    [project.entry-points."lmlab.plugins"]
    my_plugin = "my_plugin.components"

Importing such a module registers its components (and may add a CLI command). The CLI imports every
plugin once at start-up; library code does so the first time a registry cannot find a name. A plugin
that fails to import is reported with its name and the error, and does not stop the others.
`import_module_and_submodules` backs `--include-package` for quick local experiments.
"""
import importlib
import importlib.metadata
import logging
import pkgutil
from typing import Dict, List, Optional, Tuple

from lmlab.common.errors import ConfigurationError

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "lmlab.plugins"

_imported = False
_failures: List[Tuple[str, str]] = []


def import_plugins(force: bool = False) -> List[Tuple[str, str]]:
    """Import every `lmlab.plugins` entry point once; returns [(plugin name, error)] of failures."""
    global _imported
    if _imported and not force:
        return list(_failures)
    _imported = True
    _failures.clear()
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            importlib.import_module(entry_point.value.split(":")[0])
        except Exception as err:  # a broken plugin must not hide the others
            message = f"{type(err).__name__}: {err}"
            _failures.append((entry_point.name, message))
            logger.warning('plugin "%s" (%s) failed to import: %s', entry_point.name, entry_point.value, message)
    return list(_failures)


def import_module_and_submodules(package_name: str) -> None:
    """Import `package_name` and, if it is a package, all of its submodules (for --include-package)."""
    try:
        module = importlib.import_module(package_name)
    except ImportError as err:
        raise ConfigurationError(f'cannot import --include-package "{package_name}": {err}') from err
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), prefix=package_name + "."):
        importlib.import_module(info.name)


def distribution_of(module_name: str) -> Optional[Dict[str, str]]:
    """{"name", "version"} of the installed distribution providing `module_name`, if any."""
    top_level = module_name.split(".")[0]
    names = importlib.metadata.packages_distributions().get(top_level, [])
    if not names:
        return None
    return {"name": names[0], "version": importlib.metadata.version(names[0])}
