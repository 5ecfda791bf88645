# Builds, then starts a local cluster (three nodes by default) and keeps it running until Ctrl+C.
# All arguments go to the launcher: pwsh ./run-cluster.ps1 --nodes 5 --clean
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot

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

dotnet src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster @args
exit $LASTEXITCODE
