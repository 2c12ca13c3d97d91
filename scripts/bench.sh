#!/usr/bin/env bash
# `make bench`: rostersync's full import of generated rosters (100,000 and 1,000,000 people by
# default) against `psql \copy` of the same file, measured in the same run.
#
#   scripts/bench.sh [BUILD_DIR] [--rows N]... [--keep]
#
# Prints rows per second, the roster process's peak memory and the ratio to \copy, with
# PASS/MISS against the goals of issue 3. A miss does not fail; a broken setup does.
set -euo pipefail

build_dir=build
if [[ $# -gt 0 && "$1" != --* ]]; then
  build_dir="$1"
  shift
fi
build_dir=$(cd "$build_dir" && pwd)
bench="$build_dir/bench/import_bench"
for bin in "$bench" "$build_dir/services/roster/rostersync-roster" \
           "$build_dir/services/backup/rostersync-backup"; do
  if [[ ! -x "$bin" ]]; then
    echo "bench: $bin is missing; build first (make build, or cmake --build $build_dir" \
         "--target import_bench)" >&2
    exit 1
  fi
done
for tool in /usr/lib/postgresql/15/bin/postgres /usr/lib/postgresql/15/bin/psql redis-server; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench: $tool is missing (make deps)" >&2
    exit 1
  fi
done

echo "bench: $(nproc) cores, $(free -m | awk '/^Mem:/ {print $2}') MB memory, $(uname -r)"
exec "$bench" --build_dir "$build_dir" "$@"
