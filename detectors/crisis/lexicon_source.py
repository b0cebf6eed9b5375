"""``turnwatch train lexicon``: the compact copy of the Suicide Risk Lexicon, rebuilt from
construct-tracker's own files (its wheel or an unpacked directory), without installing it.

Get the wheel with ``pip download --no-deps construct-tracker==1.0.16``. What is kept per
construct: its name, variable name, definition, sources, prototypical tokens and validated
tokens, exactly as published; nothing is added.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from detectors.crisis.lexicon import LEXICON_FILE

PACKAGE_DIR = "construct_tracker/data/lexicons/suicide_risk_lexicon_v1-0/"
VALIDATED = "suicide_risk_lexicon_validated_24-08-02T21-27-35.json"
PROTOTYPICAL = "suicide_risk_lexicon_validated_prototypical_tokens_24-08-07T16-25-19.json"
SOURCE = "construct-tracker 1.0.16 (Daniel M. Low et al., Apache-2.0), suicide_risk_lexicon_v1-0"


def _read(source: Path, name: str) -> dict:
    if source.is_dir():
        return json.loads((source / PACKAGE_DIR / name).read_text(encoding="utf-8"))
    with zipfile.ZipFile(source) as wheel:
        return json.loads(wheel.read(PACKAGE_DIR + name).decode("utf-8"))


def build_lexicon(source: Path, out: Path = LEXICON_FILE) -> dict:
    """Write the compact lexicon from ``source`` (the wheel file or an unpacked directory)."""
    validated, prototypical = _read(Path(source), VALIDATED), _read(Path(source), PROTOTYPICAL)
    if set(validated) != set(prototypical):
        raise ValueError(f"{source}: the validated and prototypical files name different constructs")
    constructs = [
        {
            "key": entry["variable_name"],
            "name": name,
            "definition": " ".join(str(entry.get("definition") or "").split()),
            "sources": " ".join(str(entry.get("definition_references") or "").split()),
            "prototypical": sorted(set(prototypical[name]["tokens"])),
            "tokens": sorted(set(entry["tokens"])),
        }
        for name, entry in validated.items()
    ]
    document = {"source": SOURCE, "constructs": constructs}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return document
