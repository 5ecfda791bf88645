#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium for the dashboard test when it is missing.
# Prints the browser's path on success; exits non-zero (with the reason on stderr) where it cannot be installed.
set -euo pipefail

find_browser() {
    for candidate in /usr/bin/chromium /usr/bin/chromium-browser; do
        if [ -x "$candidate" ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

if find_browser; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-get is not available: install Chromium by hand (Debian package 'chromium')" >&2
    exit 3
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo="sudo -n"
    else
        echo "not root and no password-less sudo: cannot run apt-get install chromium" >&2
        exit 3
    fi
fi

export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
$sudo apt-get install -y -qq --no-install-recommends chromium >&2
find_browser
