#!/usr/bin/env bash
# Regenerates the hashed lock files after pyproject.toml changes:
#   requirements.lock                    every extra (local, embedded-db, dev), minus torch
#   deploy/requirements-base.lock        the core dependencies only (default user code image)
#   deploy/requirements-dagster.lock     the webserver and daemon image
# The two deploy/ locks are resolved with requirements.lock as constraints, so a package
# has the same version and hashes in all three.
#
# torch is resolved from its CPU wheel (so nothing pulls the CUDA libraries) and left out
# of the output: it is installed separately, before the lock (see the lock's header).
# Needs uv (`.venv/bin/pip install uv`) and a folder holding
# torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl: TORCH_WHEELS_DIR, or else pip's
# PIP_FIND_LINKS. Fetch it once with
#   pip download --no-deps --index-url <PyTorch's CPU wheel index> "torch==2.13.0+cpu" -d DIR
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION="2.13.0+cpu"
UV=.venv/bin/uv
[ -x "$UV" ] || UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  echo "deploy/lock.sh: uv not found; install it with: .venv/bin/pip install uv" >&2
  exit 1
fi
wheels_dir="${TORCH_WHEELS_DIR:-${PIP_FIND_LINKS:-}}"
if [ -z "$wheels_dir" ] || ! compgen -G "$wheels_dir/torch-${TORCH_VERSION}-cp311-*.whl" >/dev/null; then
  echo "deploy/lock.sh: no torch-${TORCH_VERSION} wheel for Python 3.11 in '${wheels_dir}';" \
    "set TORCH_WHEELS_DIR to a folder holding it (see the comment at the top of this script)" >&2
  exit 1
fi

# The temp folder sits in the repo so each `mv` below is a same-filesystem rename.
work=$(mktemp -d "$PWD/.lock-tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "torch==${TORCH_VERSION}" >"$work/torch-cpu.txt"

common=(--generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
  --custom-compile-command "bash deploy/lock.sh" --quiet)

# uv keeps the versions already in an existing output file unless the inputs force a
# change, so seed each output with the current lock: a re-lock moves only what must move.
seed() { if [ -f "$1" ]; then cp "$1" "$2"; fi; }

seed requirements.lock "$work/full.lock"
"$UV" pip compile pyproject.toml --extra local --extra embedded-db --extra dev \
  "${common[@]}" --find-links "$wheels_dir" -c "$work/torch-cpu.txt" \
  --no-emit-package torch -o "$work/full.lock"
{
  cat <<EOF
# Pinned, hashed dependencies of vidmine with every extra (local, embedded-db, dev) for
# Python 3.11 on linux x86_64. Regenerate with: bash deploy/lock.sh
#
# torch is NOT in this file. PyPI's torch ${TORCH_VERSION%+cpu} is a CUDA build that pulls
# gigabytes of nvidia-* wheels, so install the CPU build first and then this file:
#   pip install --no-deps --index-url <PyTorch's CPU wheel index> "torch==${TORCH_VERSION}"
#   pip install --require-hashes --no-deps -r requirements.lock
# (deploy/Dockerfile.user-code does this with WITH_LOCAL_MODELS=true.) The packages torch
# needs at run time (sympy, networkx, jinja2, filelock, fsspec ...) are locked below.
#
# sqlalchemy stays below 2.1: dagster-postgres's storage code uses APIs removed in 2.1
# (see pyproject.toml). psycopg2-binary is the driver dagster-postgres uses for Dagster's
# own storage; vidmine's tables use psycopg 3.
#
EOF
  cat "$work/full.lock"
} >"$work/requirements.lock"
mv "$work/requirements.lock" requirements.lock

seed deploy/requirements-base.lock "$work/base.lock"
"$UV" pip compile pyproject.toml "${common[@]}" -c requirements.lock -o "$work/base.lock"
mv "$work/base.lock" deploy/requirements-base.lock

seed deploy/requirements-dagster.lock "$work/dagster.lock"
"$UV" pip compile deploy/requirements-dagster.in "${common[@]}" -c requirements.lock \
  -o "$work/dagster.lock"
mv "$work/dagster.lock" deploy/requirements-dagster.lock

echo "wrote requirements.lock, deploy/requirements-base.lock, deploy/requirements-dagster.lock"
