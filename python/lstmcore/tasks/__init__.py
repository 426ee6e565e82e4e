"""Task generators for the experiments of Hochreiter & Schmidhuber (1997)."""

from .reber import EmbeddedReber

__all__ = [
    "EmbeddedReber",
]
