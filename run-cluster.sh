#!/usr/bin/env bash
# Builds once, then starts a local cluster (three nodes by default) and keeps it running until Ctrl+C.
# All arguments go to the launcher: ./run-cluster.sh --nodes 5 --clean
set -euo pipefail
cd "$(dirname "$0")"
if ! build_output=$(dotnet build src/Raft.Server/Raft.Server.csproj -c Release --nologo -v quiet 2>&1); then
    echo "$build_output"
    exit 1
fi
exec dotnet src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster "$@"
