"""Where the example transcripts that ship with turnwatch live."""

from pathlib import Path

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples" / "transcripts"
LABELS_DIR = Path(__file__).resolve().parent.parent / "examples" / "labelled"


def example_paths() -> list[Path]:
    return sorted(p for p in EXAMPLES_DIR.iterdir() if p.is_file())
