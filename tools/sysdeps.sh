#!/usr/bin/env bash
# Installs the Debian packages psre needs (SoftHSM2 and the independent checkers used by the tests).
# Root installs them with apt-get; anyone else is told exactly which packages are missing.
set -euo pipefail
pkgs=(softhsm2 opensc openssl libnss3-tools poppler-utils chromium chromium-driver nginx wrk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "psre: installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "psre: missing Debian packages: ${missing[*]}" >&2
  echo "      install them with: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
