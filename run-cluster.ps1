# Builds once, then starts a local cluster (three nodes by default) and keeps it running until Ctrl+C.
# All arguments go to the launcher: pwsh ./run-cluster.ps1 --nodes 5 --clean
$ErrorActionPreference = 'Stop'
Set-Location $PSScriptRoot
$buildOutput = dotnet build src/Raft.Server/Raft.Server.csproj -c Release --nologo -v quiet 2>&1
if ($LASTEXITCODE -ne 0) { $buildOutput; exit $LASTEXITCODE }
dotnet src/Raft.Server/bin/Release/net10.0/Raft.Server.dll cluster @args
exit $LASTEXITCODE
