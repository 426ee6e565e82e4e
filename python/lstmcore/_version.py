"""The package version: the one place it is written.

pyproject.toml reads it (scikit-build-core's regex metadata provider), CMakeLists.txt reads it for
the C++ library's package version, and ``lstmcore.__version__`` / ``lstmcore --version`` show it.
"""
__version__ = "0.1.0"
