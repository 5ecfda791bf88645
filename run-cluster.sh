#!/usr/bin/env bash
# Builds, then starts a local cluster (three nodes by default) and keeps it running until Ctrl+C.
# All arguments go to the launcher: ./run-cluster.sh --nodes 5 --clean
set -euo pipefail
cd "$(dirname "$0")"

# The build shows dotnet's own progress (a live view in a terminal, one line per project otherwise), so the
# first build's minute or two is not silent; a failed build leaves its errors on screen and this script exits
# with the build's exit code.
echo "building src/Raft.Server (Release); the first build takes a minute or two"
status=0
dotnet build src/Raft.Server/Raft.Server.csproj -c Release --nologo -v minimal || status=$?
if ((status != 0)); then
    echo "the build failed with exit code $status; no node was started" >&2
    exit "$status"
fi

exec dotnet src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster "$@"
