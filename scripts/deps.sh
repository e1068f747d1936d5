#!/usr/bin/env bash
# Installs the Debian packages jiaozi needs to build, test and benchmark, when missing.
# Both README commands (make run, make test) call this first, so a fresh Debian 12 machine
# needs nothing else. Safe to run again: it installs only what is absent.
set -euo pipefail

packages=(gcc make pkg-config libssl-dev libsqlite3-dev libjansson-dev libh2o-evloop-dev openssl curl)
if [[ "${1:-}" == "--bench" ]]; then
    packages+=(postgresql-15 postgresql-contrib nginx)
fi
if [[ "${1:-}" == "--test" ]]; then
    packages+=(prometheus sqlite3 chromium clang)
fi

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
# Node.js may come from another source than Debian's packages (with npm bundled): look for
# the commands, and install Debian's only when they are absent.
if [[ "${1:-}" == "--test" || "${1:-}" == "--web" ]] && ! { command -v node && command -v npm; } >/dev/null 2>&1; then
    missing+=(nodejs npm)
fi
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "jiaozi: installing ${missing[*]}" >&2
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=sudo
    else
        echo "jiaozi: need root to install: ${missing[*]}" >&2
        exit 1
    fi
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
