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

# The script works from its own directory (the build and the server's path are relative to it), so a relative
# --data names a directory where the caller stands: made absolute before the move. Options after -- are the nodes'.
args=()
while (($# > 0)); do
    if [[ "$1" == -- ]]; then
        args+=("$@")
        break
    fi
    if [[ "$1" == --data && $# -ge 2 && "$2" != /* ]]; then
        args+=("$1" "$PWD/$2")
        shift 2
        continue
    fi
    args+=("$1")
    shift
done
set -- ${args[@]+"${args[@]}"}
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
