# Shared by scripts/demo and scripts/test: create .venv (once) and install the project with EXTRAS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
# Installed at the tested versions of scripts/constraints.txt (MODELCANARY_UNPINNED=1: the newest
# releases pyproject.toml allows).
PINS=(-c scripts/constraints.txt)
if [ "${MODELCANARY_UNPINNED:-}" = "1" ]; then PINS=(); fi
# setuptools warns on every editable install that a folder named like the package may shadow it:
# that folder IS the package here, so the screen of text is silenced (only that warning).
PYTHONWARNINGS="ignore:Editable installation" \
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "${PINS[@]}" -e ".[${EXTRAS}]"
export PATH="$PWD/.venv/bin:$PATH"
