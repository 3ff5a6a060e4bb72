#!/usr/bin/env bash
# Installs the Debian 12 packages gmha needs to build and test, when any is missing.
# Runs apt-get as root, or through sudo.
set -euo pipefail
PKGS=(build-essential cmake pkg-config libeigen3-dev libcli11-dev libfmt-dev catch2
      nlohmann-json3-dev libbenchmark-dev libcurl4-openssl-dev librsvg2-bin libxml2-utils bsdutils  # script(1): pty tests
      libopenblas0-pthread  # optional at run time (dlopen); installed so tests cover that path
      texlive-latex-base texlive-latex-recommended texlive-science)  # pdflatex for the LaTeX tables test
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "gmha setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
