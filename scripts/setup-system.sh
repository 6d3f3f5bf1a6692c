#!/usr/bin/env bash
# Installs the system programs castkit's tests and demo need, when they are missing (Debian/Ubuntu):
#   ffmpeg + ffprobe (the npm-bundled static ffprobe crashes on MPEG-TS, so the tests use Debian's);
#   GNU time (/usr/bin/time), with which the benchmarks measure peak RSS and CPU time (a test checks that).
# Later issues add nginx with the RTMP module and chromium here. Does nothing when all are present.
# Needs root for apt-get; otherwise it prints what to install and exits 0 so that a user without root
# still gets the npm-bundled binaries (tests that need more say why they fail or skip).
# Set CASTKIT_SKIP_SYSTEM_SETUP=1 to skip it entirely.
set -euo pipefail

[ "${CASTKIT_SKIP_SYSTEM_SETUP:-}" = "1" ] && exit 0

missing=()
{ command -v ffmpeg && command -v ffprobe; } >/dev/null 2>&1 || missing+=(ffmpeg)
[ -x /usr/bin/time ] || missing+=(time)

[ ${#missing[@]} -eq 0 ] && exit 0

echo "castkit setup: Debian packages needed: ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" -ne 0 ]; then
  echo "castkit setup: cannot install them here (needs root and apt-get); run: sudo apt-get install -y ${missing[*]}" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "castkit setup: installed ${missing[*]}"
