#!/bin/sh
# Installs the hls.js pinned in package-lock.json and copies it (with its
# license) into static/vendor, where go:embed picks it up. The top-level
# Makefile runs this before build, test and vet.
set -eu
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
mkdir -p static/vendor
cp node_modules/hls.js/dist/hls.min.js static/vendor/hls.min.js
cp node_modules/hls.js/LICENSE static/vendor/hls.js-LICENSE.txt
