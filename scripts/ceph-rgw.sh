#!/usr/bin/env bash
# A throw-away single-node Ceph object gateway on loopback, for S3 tests and for trying
# Rebound against a real S3 server by hand.
#
#   scripts/ceph-rgw.sh start DIR PORT [MON_PORT]   start it, print the S3 settings when ready
#   scripts/ceph-rgw.sh stop DIR                    stop every daemon started in DIR
#
# One monitor, one OSD keeping its data in memory (memstore, nothing written to disk
# but logs), one radosgw serving S3 at http://127.0.0.1:PORT. Pools have one replica,
# cephx is off, everything listens on 127.0.0.1 only. DIR must be new, empty or one
# this script made before (it is wiped and reused); the monitor listens on MON_PORT (default PORT+1); the OSD picks free ports itself. Two
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
  # SIGKILL: the data lives in memory and goes anyway, and radosgw takes over 10 s to
  # stop politely.
  local dir=$1 pidfile pid pids=()
  for pidfile in "$dir"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    pid=$(cat "$pidfile" 2>/dev/null || true)
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null; then
      pids+=("$pid")
    fi
    rm -f "$pidfile"
  done
  local alive
  for _ in $(seq 1 100); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  echo "$0: some daemons of $dir did not exit: ${pids[*]}" >&2
  return 1
}

# A ceph command, tried up to 5 times: with cephx off, a client that asks before it has
# the monitor map sends fsid 0 and is refused ("problem getting command descriptions",
# EPERM). Both commands used here are idempotent.
ceph_retry() {
  local attempt out
  for attempt in 1 2 3 4 5; do
    if out=$(timeout 30 ceph --connect-timeout 20 "$@" 2>>"$CEPH_LOG"); then
      echo "$out"
      return 0
    fi
    sleep 0.5
  done
  echo "$0: ceph $* failed $attempt times" >&2
  return 1
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

  # DIR is wiped, so it must be empty or one this script made (it leaves a marker).
  if [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] && [ ! -e "$dir/.ceph-rgw-dir" ]; then
    echo "$0: $dir is not empty and was not made by this script; give a new or empty DIR" >&2
    exit 2
  fi
  # Anything left over from an earlier run in DIR goes first.
  if [ -d "$dir/run" ]; then stop_cluster "$dir" || true; fi
  rm -rf "$dir"
  mkdir -p "$dir"/{log,mon,osd,run}
  touch "$dir/.ceph-rgw-dir"
  dir=$(cd "$dir" && pwd)
  export CEPH_CONF=$dir/ceph.conf
  CEPH_LOG=$dir/log/start.log

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
# The OSD is placed in the CRUSH map below; letting it do so itself at start races with
# its first monitor map (fsid 0: "wrong fsid") and kills it now and then.
osd crush update on start = false
osd class update on start = false
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
  ceph-mon --id a --mkfs --monmap "$dir/monmap" --keyring /dev/null >>"$CEPH_LOG" 2>&1
  touch "$dir/mon/keyring"
  ceph-mon --id a 2>>"$CEPH_LOG"

  local osd_uuid osd_id
  osd_uuid=$(uuidgen)
  # The OSD must be registered with its uuid before mkfs, or it fails with "wrong fsid".
  osd_id=$(ceph_retry osd create "$osd_uuid")
  ceph_retry osd crush add "osd.$osd_id" 1 root=default >/dev/null
  ceph-osd --id "$osd_id" --mkfs --osd-uuid "$osd_uuid" >>"$CEPH_LOG" 2>&1
  ceph-osd --id "$osd_id" 2>>"$CEPH_LOG"

  # In the foreground of a background job, so that its pid is known at once; all of
  # its stdio goes to the log, so it holds none of the caller's pipes.
  radosgw -f -n client.rgw.a --keyring /dev/null </dev/null >>"$CEPH_LOG" 2>&1 &
  local rgw_pid=$! deadline=$((SECONDS + 60)) status
  echo "$rgw_pid" >"$dir/run/client.rgw.a.pid" # -f writes none; stop needs it
  while :; do
    status=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$port/" || true)
    [ "$status" = 200 ] && break
    if ! kill -0 "$rgw_pid" 2>/dev/null; then
      echo "$0: radosgw exited before it answered on 127.0.0.1:$port (port taken?)" >&2
      false
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$0: radosgw did not answer on 127.0.0.1:$port within 60 s" >&2
      false
    fi
    sleep 0.1
  done

  local access secret
  access=$(uuidgen | tr -d '-' | tr '[:lower:]' '[:upper:]' | cut -c1-20)
  secret=$(uuidgen | tr -d '-')$(uuidgen | tr -d '-' | cut -c1-8)
  local attempt
  for attempt in 1 2 3 4 5; do
    timeout 30 radosgw-admin user create --uid rebound-test --display-name "Rebound test" \
      --access-key="$access" --secret-key="$secret" >/dev/null 2>>"$CEPH_LOG" && break
    timeout 30 radosgw-admin user info --uid rebound-test >/dev/null 2>>"$CEPH_LOG" && break
    if [ "$attempt" = 5 ]; then false; fi
    sleep 0.5
  done

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
