#!/usr/bin/env bash
# Installs the Debian packages psre needs, by purpose:
#   run   what `psre` itself uses (SoftHSM2, openssl)
#   test  the independent checkers and servers the test suite drives (NSS, poppler, Chromium,
#         nginx, OpenSC's pkcs11-tool, a PostgreSQL server the fault tests start and stop
#         themselves, p11-kit to share the token over the wire and iproute2 for the network
#         namespaces of the cluster test) and the bench's load generator (wrk)
# `make run` installs "run" only; `make test` both. Root installs with apt-get; anyone else is
# told exactly which packages are missing.
set -euo pipefail
run_pkgs=(softhsm2 openssl)
test_pkgs=(opensc libnss3-tools poppler-utils chromium chromium-driver nginx wrk postgresql xmlsec1
           p11-kit p11-kit-modules iproute2)
pkgs=()
for set in "${@:-run}"; do
  case "$set" in
    run) pkgs+=("${run_pkgs[@]}") ;;
    test) pkgs+=("${test_pkgs[@]}") ;;
    *) echo "sysdeps.sh: unknown set '$set' (run, test)" >&2; exit 2 ;;
  esac
done
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
