#!/usr/bin/env bash
# A throw-away single-node Ceph object gateway on loopback, for S3 tests and for trying
# Rebound against a real S3 server by hand.
#
#   scripts/ceph-rgw.sh start DIR PORT [MON_PORT]   start it, print the S3 settings when ready
#   scripts/ceph-rgw.sh stop DIR                    stop every daemon started in DIR
#
# One monitor, one OSD keeping its data in memory (memstore, nothing written to disk
# but logs), one radosgw serving S3 at http://127.0.0.1:PORT. Pools have one replica,
# cephx is off, everything listens on 127.0.0.1 only. DIR is wiped and reused; the
# monitor listens on MON_PORT (default PORT+1); the OSD picks free ports itself. Two
# clusters can run side by side with different DIRs and ports.
#
# When ready it prints, and writes to DIR/s3.env:
#   S3_ENDPOINT=http://127.0.0.1:PORT
#   S3_REGION=default
#   S3_ACCESS_KEY_ID=...      random for each start
#   S3_SECRET_ACCESS_KEY=...  random for each start
#   READY_AFTER_S=...
#
# Needs Debian's packages (bookworm: Ceph 16.2):
#   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl
# Runs as any user that can write DIR. Startup takes 10-20 s.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR PORT [MON_PORT] | $0 stop DIR" >&2
  exit 2
}

stop_cluster() {
  local dir=$1 pidfile pid pids=()
  for pidfile in "$dir"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$pidfile"
  done
  # Give them 10 s to exit, then kill what is left.
  for _ in $(seq 1 100); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

start_cluster() {
  local dir=$1 port=$2 mon_port=${3:-$(($2 + 1))}
  local tool
  for tool in ceph-mon monmaptool ceph-osd radosgw radosgw-admin ceph uuidgen curl; do
    if ! command -v "$tool" >/dev/null; then
      echo "$0: $tool not found; install: apt-get install -y --no-install-recommends" \
        "ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl" >&2
      exit 3
    fi
  done
  [[ "$port" =~ ^[0-9]+$ && "$mon_port" =~ ^[0-9]+$ ]] || usage

  # Anything left over from an earlier run in DIR goes first.
  [ -d "$dir/run" ] && stop_cluster "$dir"
  rm -rf "$dir"
  mkdir -p "$dir"/{log,mon,osd,run}
  dir=$(cd "$dir" && pwd)
  export CEPH_CONF=$dir/ceph.conf

  local fsid
  fsid=$(uuidgen)
  cat >"$CEPH_CONF" <<EOF
[global]
fsid = $fsid
mon host = [v1:127.0.0.1:$mon_port]
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr2 = false
run dir = $dir/run
pid file = $dir/run/\$name.pid
admin socket = $dir/run/\$name.asok
log file = $dir/log/\$name.log
crash dir = $dir/crash
auth cluster required = none
auth service required = none
auth client required = none
osd crush chooseleaf type = 0
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon data avail crit = 0
mon data avail warn = 0

[mon.a]
mon data = $dir/mon

[osd.0]
osd data = $dir/osd
osd objectstore = memstore
memstore device bytes = 2147483648

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw dns name = localhost
EOF

  # From here on, a failure stops what was started and shows the logs.
  trap 'echo "$0: start failed; last log lines:" >&2; tail -n 20 "$dir"/log/*.log >&2 || true; stop_cluster "$dir"' ERR

  local t0=$SECONDS
  # The monitor must be named in its initial map, or it ignores MON_PORT.
  monmaptool --create --fsid "$fsid" --addv a "[v1:127.0.0.1:$mon_port]" "$dir/monmap" >/dev/null
  ceph-mon --id a --mkfs --monmap "$dir/monmap" --keyring /dev/null >/dev/null
  touch "$dir/mon/keyring"
  ceph-mon --id a 2>>"$dir/log/start.log"

  local osd_uuid osd_id
  osd_uuid=$(uuidgen)
  # The OSD must be registered with its uuid before mkfs, or it fails with "wrong fsid".
  osd_id=$(timeout 60 ceph --connect-timeout 30 osd create "$osd_uuid")
  timeout 30 ceph osd crush add "osd.$osd_id" 1 root=default >/dev/null 2>&1
  ceph-osd --id "$osd_id" --mkfs --osd-uuid "$osd_uuid" >/dev/null 2>&1
  ceph-osd --id "$osd_id" 2>>"$dir/log/start.log"

  radosgw -n client.rgw.a --keyring /dev/null 2>>"$dir/log/start.log"

  local ready=0
  for _ in $(seq 1 600); do
    if [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" || true)" = 200 ]; then
      ready=1
      break
    fi
    sleep 0.1
  done
  if [ "$ready" != 1 ]; then
    echo "$0: radosgw did not answer on 127.0.0.1:$port within 60 s" >&2
    false
  fi

  local access secret
  access=$(uuidgen | tr -d '-' | tr '[:lower:]' '[:upper:]' | cut -c1-20)
  secret=$(uuidgen | tr -d '-')$(uuidgen | tr -d '-' | cut -c1-8)
  timeout 30 radosgw-admin user create --uid rebound-test --display-name "Rebound test" \
    --access-key="$access" --secret-key="$secret" >/dev/null 2>&1

  trap - ERR
  umask 077
  cat >"$dir/s3.env" <<EOF
S3_ENDPOINT=http://127.0.0.1:$port
S3_REGION=default
S3_ACCESS_KEY_ID=$access
S3_SECRET_ACCESS_KEY=$secret
READY_AFTER_S=$((SECONDS - t0))
EOF
  cat "$dir/s3.env"
}

case "${1:-}" in
  start)
    [ $# -ge 3 ] && [ $# -le 4 ] || usage
    start_cluster "$2" "$3" "${4:-}"
    ;;
  stop)
    [ $# -eq 2 ] || usage
    stop_cluster "$2"
    ;;
  *) usage ;;
esac
