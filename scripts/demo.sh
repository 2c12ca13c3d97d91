#!/usr/bin/env bash
# `make demo`: a complete nightly import and export on loopback, driven with rosterctl.
# Starts throwaway redis-server, PostgreSQL and sshd (rostersync-devstack), the four services,
# runs night one, an operator seat assignment, night two, and the export, prints a summary,
# then stops everything it started (by pid). DEMO_KEEP=1 leaves it running until Ctrl-C.
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN="$ROOT/$BUILD"
DEMO="$ROOT/.demo"
TENANT=acme
PORT_BASE=${DEMO_PORT_BASE:-50060}
METRICS_BASE=${DEMO_METRICS_BASE:-9460}

rm -rf "$DEMO" && mkdir -p "$DEMO/tmp" "$DEMO/archive"
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting redis-server, PostgreSQL and sshd on loopback"
TMPDIR="$DEMO/tmp" "$BIN/tests/rostersync-devstack" "$DEMO" >"$DEMO/devstack.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 600); do [ -f "$DEMO/devstack.env" ] && break; sleep 0.1; done
[ -f "$DEMO/devstack.env" ] || { cat "$DEMO/devstack.log"; echo "demo: devstack did not start" >&2; exit 1; }
# shellcheck disable=SC1091
source "$DEMO/devstack.env"
echo "redis $REDIS | postgres ${POSTGRES} | sftp 127.0.0.1:$SFTP_PORT ($SFTP_USER, host key $SFTP_HOST_KEY)"

od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$DEMO/master.key"
chmod 600 "$DEMO/master.key"

BACKUP=127.0.0.1:$((PORT_BASE + 1)); ROSTER=127.0.0.1:$((PORT_BASE + 2))
TRANSFER=127.0.0.1:$((PORT_BASE + 3)); SCHEDULER=127.0.0.1:$((PORT_BASE + 4))
start() {  # name binary grpc_addr metrics_port args...
  local name=$1 bin=$2 addr=$3 mport=$4; shift 4
  "$BIN/services/$bin/rostersync-${name}" --grpc_address "$addr" \
    --metrics_address "127.0.0.1:$mport" "$@" >"$DEMO/$name.log" 2>&1 &
  PIDS+=($!)
}
say "Starting the four services"
start backup backup "$BACKUP" $((METRICS_BASE + 1)) --postgres "$POSTGRES" --archive_dir "$DEMO/archive"
start roster roster "$ROSTER" $((METRICS_BASE + 2)) --postgres "$POSTGRES" --redis "$REDIS" --backup_address "$BACKUP"
start sftp-transfer sftp_transfer "$TRANSFER" $((METRICS_BASE + 3)) --postgres "$POSTGRES" --redis "$REDIS" \
  --backup_address "$BACKUP" --master_key_file "$DEMO/master.key"
start scheduler scheduler "$SCHEDULER" $((METRICS_BASE + 4)) --postgres "$POSTGRES" --redis "$REDIS" \
  --transfer_address "$TRANSFER" --roster_address "$ROSTER" --master_key_file "$DEMO/master.key"
# Each service's own log says it listens (a connect could reach an older demo still holding a
# port: the new service then exits, "cannot listen").
i=0
for name in backup roster sftp-transfer scheduler; do
  i=$((i + 1))  # PIDS[0] is the devstack
  for tries in $(seq 300 -1 0); do
    grep -q '"msg":"service started"' "$DEMO/$name.log" 2>/dev/null && break
    if [ "$tries" = 0 ] || ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      cat "$DEMO/$name.log" >&2; echo "demo: $name did not start (log above)" >&2; exit 1
    fi
    sleep 0.1
  done
done
echo "backup $BACKUP | roster $ROSTER | sftp-transfer $TRANSFER | scheduler $SCHEDULER"

export ROSTERSYNC_SCHEDULER=$SCHEDULER ROSTERSYNC_ROSTER=$ROSTER ROSTERSYNC_BACKUP=$BACKUP
export ROSTERSYNC_TENANT=$TENANT
ctl() { echo "\$ rosterctl $*"; "$BIN/tools/rosterctl/rosterctl" "$@"; }

# The HR system's nightly drop: its own header names.
people_csv() {  # $1 = night (1 or 2)
  echo "Employee ID,First Name,Last Name,Work Email,Language,Status,Worker Type"
  local first=(Ada Grace Jean Edsger Barbara Donald Frances Alan Katherine Dennis Margaret Ken)
  local last=(Lovelace Hopper Sammet Dijkstra Liskov Knuth Allen Turing Johnson Ritchie Hamilton Thompson)
  local types=(employee contractor intern staff employee part_time employee student employee staff employee contractor)
  local i n=${#first[@]}
  for ((i = 0; i < n; i++)); do
    if [ "$1" = 2 ] && [ $i -eq 4 ]; then continue; fi   # night two: Barbara left
    local ln=${last[$i]}
    if [ "$1" = 2 ] && [ $i -eq 1 ]; then ln="Hopper-Murray"; fi  # night two: a name change
    printf 'E%03d,%s,%s,%s@acme.test,en,%s,%s\r\n' $((i + 1)) "${first[$i]}" "$ln" \
      "$(echo "${first[$i]}" | tr 'A-Z' 'a-z')" "$([ $i -eq 3 ] && echo Inactive || echo Active)" "${types[$i]}"
  done
  if [ "$1" = 2 ]; then printf 'E013,Barbara,Jones,bjones@acme.test,en,Active,intern\r\n'; fi
}

say "Registering the integrations (secrets are read from files, sealed at rest, never shown)"
IMPORT_ID=$(ctl integrations create --name "Workday nightly" --direction import \
  --host 127.0.0.1 --port "$SFTP_PORT" --user "$SFTP_USER" --host-key "$SFTP_HOST_KEY" \
  --key-file "$SFTP_KEY_FILE" --folder hr-drop --glob 'roster_*.csv' \
  --map "Employee ID=person_id" --map "First Name=first_name" --map "Last Name=last_name" \
  --map "Work Email=email" --map "Language=language" --map "Status=active" \
  --map "Worker Type=person_type" --sync deactivate --output json | tee -a /dev/stderr |
  sed -n 's/.*"integrationId": *"\([^"]*\)".*/\1/p' | head -1)
EXPORT_ID=$(ctl integrations create --name "Seat export" --direction export \
  --host 127.0.0.1 --port "$SFTP_PORT" --user "$SFTP_USER" --host-key "$SFTP_HOST_KEY" \
  --password-file "$SFTP_PASSWORD_FILE" --folder exports --file-name roster_export.csv \
  --output json | tee -a /dev/stderr | sed -n 's/.*"integrationId": *"\([^"]*\)".*/\1/p' | head -1)
[ -n "$IMPORT_ID" ] && [ -n "$EXPORT_ID" ] || { echo "demo: could not create integrations" >&2; exit 1; }
ctl integrations list
ctl integrations test "$IMPORT_ID"

say "Night one: the HR system drops roster_20261120.csv"
people_csv 1 >"$SFTP_HOME/hr-drop/roster_20261120.csv"
ctl runs trigger "$IMPORT_ID" --wait
ctl people list

say "An operator assigns seats (data no HR system has)"
ctl people assign-seat E001 HQ-3-101
ctl people assign-seat E005 HQ-3-102

say "Night two: one leaver, one joiner, one name change"
touch -d '+1 minute' "$SFTP_HOME/hr-drop/roster_20261120.csv" 2>/dev/null || true
people_csv 2 >"$SFTP_HOME/hr-drop/roster_20261121.csv"
touch -d '+2 minutes' "$SFTP_HOME/hr-drop/roster_20261121.csv"
ctl runs trigger "$IMPORT_ID" --wait
NIGHT2=$("$BIN/tools/rosterctl/rosterctl" imports list --output json | tr -d '\n ' |
  sed -n 's/.*"imports":\[{\([^}]*\)}.*/\1/p')
ctl imports list
ctl backups list --kind backup

say "Nightly export of the roster with seats"
ctl runs trigger "$EXPORT_ID" --wait
echo "--- $SFTP_HOME/exports/roster_export.csv on the SFTP server:"
cat "$SFTP_HOME/exports/roster_export.csv"

say "Oops: an operator previews, then restores, the roster as it was before night two"
NIGHT2_BACKUP=$(echo "$NIGHT2" | sed -n 's/.*"backupFileId":"\([^"]*\)".*/\1/p')
[ -n "$NIGHT2_BACKUP" ] || { echo "demo: no backup id found" >&2; exit 1; }
ctl backups restore "$NIGHT2_BACKUP" --preview --examples 3
ctl backups restore "$NIGHT2_BACKUP"
ctl people list

say "A bad file is rejected with an error report (nothing applied)"
printf 'Employee ID,First Name,Last Name,Work Email,Language,Status,Worker Type\r\nE001,Ada,Lovelace,not-an-email,english,maybe,employee\r\n' >"$DEMO/bad.csv"
ctl imports upload "$DEMO/bad.csv" --integration "$IMPORT_ID" || true
BAD_IMPORT=$("$BIN/tools/rosterctl/rosterctl" imports list --output json | tr -d '\n ' |
  sed -n 's/.*"imports":\[{[^}]*"importId":"\([^"]*\)".*/\1/p')
ctl imports errors "$BAD_IMPORT" || true

say "Summary"
ctl runs list
field() { echo "$NIGHT2" | sed -n "s/.*\"$1\":\"\\{0,1\\}\([^\",]*\).*/\1/p"; }
echo "night two: $(field added) added, $(field updated) updated, $(field deleted) deleted, $(field deactivated) deactivated; backup taken before it: $NIGHT2_BACKUP (restored above)"
echo "exported file: sftp://$SFTP_USER@127.0.0.1:$SFTP_PORT/exports/roster_export.csv"
echo "metrics: http://127.0.0.1:$((METRICS_BASE + 4))/metrics (scheduler), :$((METRICS_BASE + 1))-:$((METRICS_BASE + 3)) (backup, roster, sftp-transfer)"
curl -s "http://127.0.0.1:$((METRICS_BASE + 4))/metrics" | grep -E '^rostersync_runs_total' || true
curl -s "http://127.0.0.1:$((METRICS_BASE + 2))/metrics" | grep -E '^rostersync_import_records_total' || true
curl -s "http://127.0.0.1:$((METRICS_BASE + 3))/metrics" | grep -E '^rostersync_sftp_bytes_total' || true
echo "logs: $DEMO/*.log"
if [ "${DEMO_KEEP:-0}" = 1 ]; then
  say "Still running (DEMO_KEEP=1); Ctrl-C stops everything"
  wait
fi
