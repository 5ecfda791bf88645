#!/usr/bin/env bash
# Makes sure a C toolchain for a native (ahead-of-time) build of the server is installed: clang, which the .NET
# ILCompiler links with. Debian-based machines only; prints what it did.
# Exit 0: a clang is there; exit 1: it is not and could not be installed.
set -u
find_clang() {
  command -v clang 2>/dev/null && return 0
  ls /usr/bin/clang-[0-9]* 2>/dev/null | sort -V | tail -n 1 | grep . && return 0
  return 1
}
if found=$(find_clang); then
  echo "clang: present ($found)"
  exit 0
fi
if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "clang: missing, and this is not root on a machine with apt-get (install clang and zlib1g-dev)"
  exit 1
fi
echo "clang: missing, installing clang and zlib1g-dev with apt-get"
export DEBIAN_FRONTEND=noninteractive
if apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq clang zlib1g-dev >/dev/null 2>&1 && found=$(find_clang); then
  echo "clang: installed ($found)"
  exit 0
fi
echo "clang: the install failed"
exit 1
