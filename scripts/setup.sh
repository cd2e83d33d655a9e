#!/usr/bin/env bash
# Set up snowgan in the current Python environment.
# torch: install the pinned CPU build only when no torch is importable, so an
# existing (e.g. CUDA) torch is never replaced and a fresh machine does not pull
# several GB of CUDA wheels through a bare `torch` requirement.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if ! "$PY" -c "import torch" >/dev/null 2>&1; then
  echo "setup: no torch found; installing the pinned CPU build torch==2.13.0"
  "$PY" -m pip install --quiet "torch==2.13.0"
fi
"$PY" -m pip install --quiet -e ".[test]"
echo "setup: snowgan $("$PY" -c 'import snowgan; print(snowgan.__version__)') with torch $("$PY" -c 'import torch; print(torch.__version__)')"
