#!/usr/bin/env bash
# Installs etcd 3.4 from Debian's packages (etcd-server, etcd-client), for the failover benchmark's --target etcd|both.
# The package also installs a systemd unit; the benchmark starts its own etcd processes and does not need it.
set -euo pipefail
if command -v etcd >/dev/null 2>&1; then
    echo "etcd is already installed: $(etcd --version | head -n 1)"
    exit 0
fi
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
"${sudo_cmd[@]}" apt-get update
"${sudo_cmd[@]}" apt-get install -y etcd-server etcd-client
etcd --version | head -n 1
