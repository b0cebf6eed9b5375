"""Every third-party module the installed commands import is a runtime dependency of the wheel, so
`pip install turnwatch` gives working commands (not only a checkout with the test extras)."""

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Imported only by `turnwatch train` and the dataset evals, which say to install the `train` extra.
TRAIN_EXTRA = {"sklearn", "joblib"}  # joblib comes with scikit-learn


def imported_top_levels(package: Path) -> set[str]:
    names = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_of_the_commands_is_a_runtime_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime = {normalise(re.split(r"[=<>!~;\[ ]", spec, maxsplit=1)[0]) for spec in project["dependencies"]}
    owners = packages_distributions()
    ours = {"streams", "detectors", "tests"}
    missing = {}
    for module in imported_top_levels(ROOT / "streams") | imported_top_levels(ROOT / "detectors"):
        if module in ours or module in sys.stdlib_module_names or module in TRAIN_EXTRA or module == "__future__":
            continue
        distributions = {normalise(d) for d in owners.get(module, [module])}
        if not distributions & runtime:
            missing[module] = sorted(distributions)
    assert not missing, f"imported by streams/ or detectors/ but not in [project.dependencies]: {missing}"
