"""Make a real (unpacked) plugin distribution in a folder, discoverable through its entry points."""
import textwrap
from pathlib import Path
from typing import Dict


def make_plugin_distribution(root: Path, name: str, modules: Dict[str, str],
                             entry_points: Dict[str, str], version: str = "0.1.0") -> Path:
    """Write `modules` ({"pkg/mod.py": source}) and `<name>-<version>.dist-info` under `root`.

    Put `root` on `sys.path` (or PYTHONPATH) and `importlib.metadata` finds the distribution and its
    `lmlab.plugins` entry points ({entry name: "module.path"}), exactly as for a pip-installed package.
    Returns `root`.
    """
    root.mkdir(parents=True, exist_ok=True)
    for relative, source in modules.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
    dist_info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = ["[lmlab.plugins]"] + [f"{entry} = {module}" for entry, module in entry_points.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    top_levels = sorted({Path(relative).parts[0].removesuffix(".py") for relative in modules})
    (dist_info / "top_level.txt").write_text("\n".join(top_levels) + "\n")
    records = [f"{relative},," for relative in modules] + [f"{dist_info.name}/{f},," for f in
                                                           ("METADATA", "entry_points.txt", "top_level.txt")]
    (dist_info / "RECORD").write_text("\n".join(records) + "\n")
    return root
