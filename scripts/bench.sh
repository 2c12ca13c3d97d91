#!/usr/bin/env bash
# `make bench`, two benchmarks measured against a reference in the same run:
#  1. import: rostersync's full import of generated rosters (100,000 and 1,000,000 people by
#     default) against `psql \copy` of the same file (issue 3);
#  2. sftp: download and upload of the same 256 MiB file on loopback with rostersync's
#     SftpClient and with OpenSSH's `sftp` client against a throwaway sshd (issue 4; needs
#     root, like the sshd tests).
#
#   scripts/bench.sh [BUILD_DIR] [--only import|sftp] [--sftp-size-mib N] [--sftp-rounds N]
#                    [--sftp-max-streams N]
#                    [--rows N]... [--rounds N] [--keep]
#
# Other options (--rows, --rounds) go to the import bench. Each prints its figures and ratios with PASS/MISS
# against the goals; a miss does not fail; a broken setup does.
set -euo pipefail

build_dir=build
if [[ $# -gt 0 && "$1" != --* ]]; then
  build_dir="$1"
  shift
fi
build_dir=$(cd "$build_dir" && pwd)
only=""
sftp_args=()
import_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --sftp-size-mib) sftp_args+=(--size_mib "$2"); shift 2 ;;
    --sftp-rounds) sftp_args+=(--rounds "$2"); shift 2 ;;
    --sftp-max-streams) sftp_args+=(--max_streams "$2"); shift 2 ;;
    --keep) import_args+=(--keep); sftp_args+=(--keep); shift ;;
    *) import_args+=("$1"); shift ;;
  esac
done
if [[ -n "$only" && "$only" != import && "$only" != sftp ]]; then
  echo "bench: --only takes import or sftp" >&2
  exit 2
fi

missing() {
  echo "bench: $1 is missing; build first (make build, or cmake --build $build_dir" \
       "--target $2)" >&2
  exit 1
}

echo "bench: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MB memory, $(uname -r)," \
     "load $(cut -d' ' -f1-3 /proc/loadavg)"

if [[ "$only" != sftp ]]; then
  bench="$build_dir/bench/import_bench"
  for bin in "$bench" "$build_dir/services/roster/rostersync-roster" \
             "$build_dir/services/backup/rostersync-backup"; do
    [[ -x "$bin" ]] || missing "$bin" import_bench
  done
  for tool in /usr/lib/postgresql/15/bin/postgres /usr/lib/postgresql/15/bin/psql redis-server; do
    if ! command -v "$tool" >/dev/null; then
      echo "bench: $tool is missing (make deps)" >&2
      exit 1
    fi
  done
  "$bench" --build_dir "$build_dir" ${import_args[@]+"${import_args[@]}"}
fi

if [[ "$only" != import ]]; then
  bench="$build_dir/bench/sftp_bench"
  [[ -x "$bench" ]] || missing "$bench" sftp_bench
  for tool in /usr/sbin/sshd /usr/bin/sftp /usr/bin/ssh-keygen; do
    if [[ ! -x "$tool" ]]; then
      echo "bench: $tool is missing (openssh-server, openssh-client)" >&2
      exit 1
    fi
  done
  if [[ $(id -u) -ne 0 ]]; then
    echo "bench: the sftp bench needs root (its sshd runs in a private mount namespace)" >&2
    exit 1
  fi
  echo
  "$bench" ${sftp_args[@]+"${sftp_args[@]}"}
fi
