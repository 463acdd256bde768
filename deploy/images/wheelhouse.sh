#!/usr/bin/env bash
# Fills deploy/wheels/ (git-ignored) with every wheel the images install, downloaded on
# the host with hashes checked, so that `docker build` installs Python packages with no
# network inside the build (an engine without a registry, an air-gapped site). The
# Dockerfiles install from deploy/wheels/ when it holds wheels and from the package index
# otherwise.
#
#   deploy/images/wheelhouse.sh [--local-models]
#
# --local-models adds requirements.lock (the local-models image) and the CPU build of
# torch: from pip's own configuration (PIP_FIND_LINKS, PIP_INDEX_URL ...) or
# TORCH_INDEX_URL (PyTorch's CPU wheel index).
set -euo pipefail
cd "$(dirname "$0")/../.."

TORCH_VERSION=2.13.0+cpu
PIP=${PIP:-.venv/bin/pip}
[ -x "$PIP" ] || PIP="python3 -m pip"
dest=deploy/wheels
# pip's "Location ... is ignored" lines (extra local indexes in pip's config) are noise.
quiet_pip() { $PIP "$@" 2> >(grep -v '^WARNING: Location' >&2); }
locks=(deploy/requirements-base.lock deploy/requirements-dagster.lock)
[ "${1:-}" = "--local-models" ] && locks+=(requirements.lock)

# Filled already from these very locks: nothing to check again.
stamp="$dest/.filled-$(cat "${locks[@]}" | sha256sum | cut -c1-16)"
if [ -f "$stamp" ]; then
  echo "$dest: up to date" >&2
  exit 0
fi
for lock in "${locks[@]}"; do
  # --no-deps: a lock is the whole set; --require-hashes: a wheel whose hash differs from
  # the lock's is refused, so the wheelhouse is exactly what the lock pins.
  quiet_pip download -q --no-deps --only-binary :all: --require-hashes -r "$lock" -d "$dest"
done
# Building the project itself needs setuptools (pyproject.toml's build-system): the
# version and hashes requirements.lock pins.
awk '/^setuptools==/ { on = 1 } on { print } on && !/\\$/ { exit }' requirements.lock >"$dest/.setuptools.txt"
quiet_pip download -q --no-deps --only-binary :all: --require-hashes -r "$dest/.setuptools.txt" -d "$dest"
rm -f "$dest/.setuptools.txt"
if [ "${1:-}" = "--local-models" ] && ! compgen -G "$dest/torch-${TORCH_VERSION}-*.whl" >/dev/null; then
  extra=()
  [ -n "${TORCH_INDEX_URL:-}" ] && extra=(--index-url "$TORCH_INDEX_URL")
  quiet_pip download -q --no-deps --only-binary :all: "${extra[@]}" "torch==${TORCH_VERSION}" -d "$dest" || {
    echo "wheelhouse.sh: no torch ${TORCH_VERSION} wheel: set TORCH_INDEX_URL to PyTorch's" \
      "CPU wheel index" >&2
    exit 1
  }
fi
rm -f "$dest"/.filled-*
touch "$stamp"
echo "$dest: $(find "$dest" -name '*.whl' | wc -l) wheels, $(du -sh "$dest" | cut -f1)"
