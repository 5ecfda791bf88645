#!/usr/bin/env bash
# Makes sure iptables is installed, for the network fault suite's partitions and packet loss.
# Debian-based machines only; prints what it did. Exit 0: iptables is there; exit 1: it is not and could not be installed.
set -u
if command -v iptables >/dev/null 2>&1; then
  echo "iptables: present ($(iptables --version 2>/dev/null))"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "iptables: missing, and this is not root on a machine with apt-get"
  exit 1
fi
echo "iptables: missing, installing it with apt-get"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq iptables >/dev/null 2>&1 && command -v iptables >/dev/null 2>&1; then
  echo "iptables: installed ($(iptables --version 2>/dev/null))"
  exit 0
fi
echo "iptables: the install failed"
exit 1
