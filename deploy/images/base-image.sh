#!/usr/bin/env bash
# Builds a stand-in for python:3.11-slim-bookworm on an engine that reaches no image
# registry: a minimal Debian (mmdebstrap --variant=minbase) of the host's release with
# Debian's python3 (3.11 on bookworm), from the Debian mirror apt on this host already
# uses, imported with `docker import`. The Dockerfiles take it through their PYTHON_IMAGE
# build argument. Needs root, mmdebstrap and a reachable Docker engine (DOCKER_HOST).
#
#   deploy/images/base-image.sh [TAG]     # default vidmine-python:3.11-bookworm
#
# Where a registry is reachable, use python:3.11-slim-bookworm instead (the default).
set -euo pipefail

tag=${1:-vidmine-python:3.11-bookworm}
docker=${DOCKER:-docker}
# The host's release (bookworm on Debian 12) and the mirror its apt sources name for it.
. /etc/os-release
codename=${VERSION_CODENAME:?/etc/os-release has no VERSION_CODENAME}

debian_mirror() {
  # One-line sources ("deb URI SUITE COMPONENTS") and deb822 stanzas (URIs:/Suites:);
  # the first entry whose suite is exactly the release (not -updates or -security).
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$file" ] || continue
    awk -v s="$codename" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) while ($i !~ /\]$/) i++;
      if ($2 ~ /^\[/) i++; if ($(i + 1) == s) { print $i; exit } }' "$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v s="$codename" 'BEGIN { RS = ""; FS = "\n" }
      { uris = ""; hit = 0; deb = 0
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris); sub(/[ \t].*/, "", uris) }
          if ($i ~ /^Types:/ && $i ~ /(^|[ \t])deb([ \t]|$)/) deb = 1
          if ($i ~ /^Suites:/) { n = split(substr($i, 8), w, /[ \t]+/); for (j = 1; j <= n; j++) if (w[j] == s) hit = 1 } }
        if (hit && deb && uris != "") { print uris; exit } }' "$file"
  done
}
mirror=$(debian_mirror | head -n 1)
if [ -z "$mirror" ]; then
  echo "base-image.sh: no apt source for '$codename' in /etc/apt/sources.list{,.d}:" \
    "cannot tell which Debian mirror to build from" >&2
  exit 1
fi
command -v mmdebstrap >/dev/null || {
  echo "base-image.sh: mmdebstrap missing; apt-get install --no-install-recommends mmdebstrap" >&2
  exit 1
}

echo "base-image.sh: $tag from $codename at $mirror" >&2
# python-is-python3: the Dockerfiles run `python`; python3-venv: `python -m venv`.
mmdebstrap --quiet --variant=minbase --include=python3,python3-venv,python-is-python3,ca-certificates \
  --aptopt='APT::Install-Recommends "false"' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
  "$codename" - "$mirror" |
  "$docker" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$tag" >/dev/null
echo "$tag"
