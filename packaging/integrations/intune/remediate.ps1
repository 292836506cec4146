# Intune remediation (Devices > Scripts and remediations), remediation
# script of the pair with detect.ps1; same settings (logged-on
# credentials: Yes; 64-bit PowerShell: Yes).
#
# Starts this user's agent exactly as a login does: the command line of the
# per-machine Run value the MSI wrote (HKLM\Software\Microsoft\Windows\
# CurrentVersion\Run, value posture-sync), which starts the windowless
# launcher posture-syncw.exe. Only HKLM is read (administrators alone write
# it), and only the launcher in the posture-sync folder of Program Files is
# started: this script never runs a program a user could have chosen.
$ErrorActionPreference = 'Stop'

$programFiles = if ($env:ProgramW6432) { $env:ProgramW6432 } else { $env:ProgramFiles }
$expected = Join-Path $programFiles 'posture-sync\posture-syncw.exe'
$runKey = 'HKLM:\Software\Microsoft\Windows\CurrentVersion\Run'
$runName = 'posture-sync'

$line = (Get-ItemProperty -LiteralPath $runKey -Name $runName -ErrorAction SilentlyContinue).$runName
if (-not $line) {
    Write-Output "no Run value $runName under ${runKey}: reinstall the posture-sync MSI"
    exit 1
}
# The value is one command line: "launcher" followed by its arguments.
if ($line -notmatch '^"([^"]+)"\s+(.*)$') {
    Write-Output "the Run value is not a quoted program and its arguments: $line"
    exit 1
}
$launcher = $Matches[1]
$arguments = $Matches[2]
if ($launcher -ne $expected) {
    Write-Output "the Run value starts $launcher, not ${expected}: reinstall the posture-sync MSI"
    exit 1
}
if (-not (Test-Path -LiteralPath $launcher)) {
    Write-Output "$launcher is missing: reinstall the posture-sync MSI"
    exit 1
}
Start-Process -FilePath $launcher -ArgumentList $arguments
Write-Output "started $launcher $arguments"
exit 0
