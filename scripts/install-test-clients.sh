#!/bin/sh
# Installs the real clients the end-to-end tests drive, on Debian or Ubuntu:
# ffmpeg publishes RTMP, Chromium (driven by Node.js and npm's
# playwright-core) publishes WHIP and plays the bundled page, nginx and
# nftables stand in for a CDN and for network faults. Only what is missing
# is installed. Without them `make test` skips those tests (and says so at
# the end); with CI=true it fails instead. .ci/run calls this script.
set -eu

need=""
command -v ffmpeg >/dev/null 2>&1 || need="$need ffmpeg"
[ -x /usr/bin/chromium ] || need="$need chromium"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx"
command -v nft >/dev/null 2>&1 || [ -x /usr/sbin/nft ] || need="$need nftables"

if [ -z "$need" ]; then
  echo "install-test-clients: ffmpeg, chromium, node, npm, nginx and nft are all here"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-clients: no apt-get here; install these with your package manager:$need" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
echo "install-test-clients: installing$need"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# $need is a list of package names: split on purpose.
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $need
