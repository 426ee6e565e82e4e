import os
import sys

# tests/reference.py (the pure-NumPy specification) is imported as `reference`.
sys.path.insert(0, os.path.dirname(__file__))
