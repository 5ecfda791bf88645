# Builds, then starts a local cluster (three nodes by default) and keeps it running until Ctrl+C.
# All arguments go to the launcher: pwsh ./run-cluster.ps1 --nodes 5 --clean
# In another terminal, pwsh ./run-cluster.ps1 restart N asks the running launcher to start node N again,
# pwsh ./run-cluster.ps1 add adds a new node to its cluster, and pwsh ./run-cluster.ps1 remove N removes node N.
$ErrorActionPreference = 'Stop'

# The launcher prints commands to paste (the one that starts an exited node again): this script, by its full path,
# so that the command works from any directory and in any shell.
$env:RAFT_CLUSTER_COMMAND = "pwsh `"$PSCommandPath`""
# The script works from its own directory (the build and the server's path are relative to it), so a relative
# --data names a directory where the caller stands: made absolute before the move. Options after -- are the nodes'.
$given = @($args)
for ($i = 0; $i -lt $given.Count; $i++) {
    if ($given[$i] -eq '--') { break }
    if ($given[$i] -eq '--data' -and $i + 1 -lt $given.Count -and -not [System.IO.Path]::IsPathRooted($given[$i + 1])) {
        $given[$i + 1] = Join-Path (Get-Location).Path $given[$i + 1]
        $i++
    }
}
Set-Location $PSScriptRoot
$server = 'src/Raft.Server/bin/Release/net10.0/Raft.Server.dll'

# restart, add and remove talk to a launcher that already runs the built server: building first would only cost
# time, and a rebuild could replace the dll under the nodes that run it.
if ($given.Count -gt 0 -and $given[0] -in @('restart', 'add', 'remove')) {
    if (-not (Test-Path $server)) {
        Write-Host "the server is not built yet: start the cluster with $env:RAFT_CLUSTER_COMMAND first"
        exit 1
    }
    dotnet $server cluster @given
    exit $LASTEXITCODE
}

# The build shows dotnet's own progress (a live view in a terminal, one line per project otherwise), so the
# first build's minute or two is not silent; a failed build leaves its errors on screen and this script exits
# with the build's exit code.
Write-Host 'building src/Raft.Server (Release); the first build takes a minute or two'
dotnet build src/Raft.Server/Raft.Server.csproj -c Release --nologo -v minimal
if ($LASTEXITCODE -ne 0) {
    $status = $LASTEXITCODE
    Write-Host "the build failed with exit code $status; no node was started"
    exit $status
}

dotnet $server cluster @given
exit $LASTEXITCODE
