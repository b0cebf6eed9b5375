"""The example transcripts and labelled sets that ship with turnwatch, as package data.

Found through ``importlib.resources`` so every command works from an installed wheel as well
as from a checkout.
"""

from importlib.resources import files
from pathlib import Path

EXAMPLES_DIR = Path(str(files(__name__) / "transcripts"))
LABELS_DIR = Path(str(files(__name__) / "labelled"))


def example_paths() -> list[Path]:
    return sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_file())
