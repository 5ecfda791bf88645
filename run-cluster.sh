#!/usr/bin/env bash
# Builds, then starts a local cluster (three nodes by default) and keeps it running until Ctrl+C.
# All arguments go to the launcher: ./run-cluster.sh --nodes 5 --clean
# In another terminal, ./run-cluster.sh restart N asks the running launcher to start node N again, ./run-cluster.sh add
# to add a new node to its cluster, and ./run-cluster.sh remove N to remove node N from it.
set -euo pipefail

# The launcher prints commands to paste (the one that starts an exited node again): this script, as it was invoked.
if [[ "$0" == */* ]]; then
    RAFT_CLUSTER_COMMAND=$(printf '%q' "$0")
else
    RAFT_CLUSTER_COMMAND="bash $(printf '%q' "$0")"
fi
export RAFT_CLUSTER_COMMAND
cd "$(dirname "$0")"
server=src/Raft.Server/bin/Release/net10.0/Raft.Server.dll

# restart, add and remove talk to a launcher that already runs the built server: building first would only cost
# time, and a rebuild could replace the dll under the nodes that run it.
if [[ "${1:-}" == restart || "${1:-}" == add || "${1:-}" == remove ]]; then
    if [[ ! -f $server ]]; then
        echo "the server is not built yet: start the cluster with $RAFT_CLUSTER_COMMAND first" >&2
        exit 1
    fi
    exec dotnet "$server" cluster "$@"
fi

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

exec dotnet "$server" cluster "$@"
