# Intune remediation (Devices > Scripts and remediations), detection script
# of the pair with remediate.ps1.
#
# Settings: "Run this script using the logged-on credentials": Yes (the
# agent runs in each user's session, its status socket is the user's);
# "Run script in 64-bit PowerShell": Yes (the MSI installs into the 64-bit
# Program Files).
#
# Exit 0 (compliant) when this user's agent answers `posture-sync status
# --json`; prints "PHASE/POSTURE", which Intune shows as the detection
# output. Exit 1 otherwise, so that remediate.ps1 starts it: status exits 3
# when no agent runs (printing {"running":false,...} or nothing).
$ErrorActionPreference = 'Stop'

$programFiles = if ($env:ProgramW6432) { $env:ProgramW6432 } else { $env:ProgramFiles }
$exe = Join-Path $programFiles 'posture-sync\posture-sync.exe'
if (-not (Test-Path -LiteralPath $exe)) {
    Write-Output "posture-sync is not installed ($exe is missing)"
    exit 1
}

$out = & $exe status --json 2>$null
$code = $LASTEXITCODE
if ($code -eq 0 -and $out) {
    try {
        $status = ($out | Out-String) | ConvertFrom-Json
    } catch {
        Write-Output "posture-sync status printed something that is not JSON"
        exit 1
    }
    if ($status.PSObject.Properties.Name -contains 'running' -and -not $status.running) {
        Write-Output 'posture-sync is not running'
        exit 1
    }
    Write-Output ('{0}/{1}' -f $status.phase, $status.posture)
    exit 0
}
Write-Output ('posture-sync is not running (status exit {0})' -f $code)
exit 1
