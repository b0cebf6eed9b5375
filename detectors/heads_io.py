"""Where trained heads live."""

from pathlib import Path

HEADS_DIR = Path(__file__).resolve().parent / "heads"
