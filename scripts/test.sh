#!/usr/bin/env bash
# Install what the tests need, then lint and run every test (unit, integration, interop).
# This is the README's test command and what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

# Real peers the tests drive: qemu-img/qemu-io/qemu-nbd (qemu-utils), nbdinfo/nbdcopy
# (libnbd-bin), fio and nbdkit (benchmarks and client tests), psktool/certtool (gnutls-bin),
# a single-node Ceph with radosgw as the S3 server (scripts/ceph-rgw.sh), and Chromium for the
# console's end-to-end tests (test/e2e/, driven by playwright-core; never a downloaded browser).
missing=()
for pair in qemu-img:qemu-utils nbdinfo:libnbd-bin nbdcopy:libnbd-bin fio:fio nbdkit:nbdkit psktool:gnutls-bin \
  openssl:openssl ceph-mon:ceph-mon ceph-osd:ceph-osd radosgw:radosgw ceph:ceph-common uuidgen:uuid-runtime curl:curl \
  chromium:chromium; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${missing[@]}" | sort -u) >/dev/null
fi

# `npm install` rather than `npm ci`: with some npm settings (omit-lockfile-registry-resolved) the lock
# file has been written without the other platforms' optional packages, which `npm ci` refuses.
npm install --no-audit --no-fund
npm run lint
npm test
