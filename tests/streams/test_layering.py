"""The house's layering: every import points down (or sideways inside one package), never up.

detectors                      pure detection code and models; imports nothing of streams
errors, vocabulary, examples   the words every part shares
contracts, settings, logs, metrics
topology                       every topic and table, declared once
kafka                          broker, probes, security, Faust tuning, topic creation
ingest | delivery | console    peers: none imports another
monitor                        the app wiring, the agent, the pipeline, the worker process
testing                        workers as child processes, a counting receiver
tooling                        one module per command family
cli                            argument parsing only
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = {
    "detectors": 0,
    "errors": 1,
    "vocabulary": 1,
    "examples": 1,
    "contracts": 2,
    "settings": 2,
    "logs": 2,
    "metrics": 2,
    "topology": 3,
    "kafka": 4,
    "ingest": 5,
    "delivery": 5,
    "console": 5,
    "monitor": 6,
    "testing": 7,
    "tooling": 8,
    "cli": 9,
}


def part_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] == "detectors":
        return "detectors"
    if parts[0] != "streams" or len(parts) == 1:
        return None
    return parts[1]


def imports() -> list[tuple[str, str, str]]:
    """(importing module, its part, imported part) for every import between parts."""
    found = []
    for path in [*(ROOT / "streams").rglob("*.py"), *(ROOT / "detectors").rglob("*.py")]:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        source = part_of(module)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
                if node.module == "streams":
                    names = [f"streams.{alias.name}" for alias in node.names]
            else:
                continue
            for name in names:
                target = part_of(name)
                if target and source and target != source and target in LAYERS:
                    found.append((module, source, target))
    return found


def test_every_part_of_the_house_has_a_layer():
    parts = {p.stem if p.is_file() else p.name for p in (ROOT / "streams").iterdir()}
    parts = {p for p in parts if not p.startswith(("_", ".")) and p not in {"py"}}
    assert parts - {"py.typed"} <= set(LAYERS), parts - set(LAYERS)


def test_imports_point_down_never_up_and_peers_stay_apart():
    upward = [
        f"{module} imports {target}"
        for module, source, target in imports()
        if LAYERS[target] > LAYERS[source] or (LAYERS[target] == LAYERS[source] and source != target)
    ]
    # The worker process may start the console in-process (console_in_worker), and the app wires the
    # delivery agents: both are monitor (6) importing a layer-5 peer, which is down, so allowed.
    assert not upward, "\n".join(sorted(set(upward)))
