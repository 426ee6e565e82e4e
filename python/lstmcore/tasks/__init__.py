"""Task generators for the experiments of Hochreiter & Schmidhuber (1997)."""

from .adding import Adding, Multiplication
from .longlag import NoiseFreeLongLag, NoLocalRegularities, VeryLongLag
from .reber import EmbeddedReber
from .temporal_order import TemporalOrder
from .twosequence import TwoSequence

__all__ = [
    "EmbeddedReber",
    "NoiseFreeLongLag",
    "NoLocalRegularities",
    "VeryLongLag",
    "TwoSequence",
    "Adding",
    "Multiplication",
    "TemporalOrder",
]
