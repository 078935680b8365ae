#!/usr/bin/env bash
# Installs what lbaas needs on a Debian machine, as root: the packages, then the venv.
# Idempotent: quick when everything is there already.
set -euo pipefail
packages=$1
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# constraints.txt: the exact versions of everything (pyproject.toml has ranges).
.venv/bin/pip install -q -c constraints.txt -e '.[test]'
