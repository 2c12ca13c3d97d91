#!/usr/bin/env bash
# Builds the libFuzzer target tests/fuzz/csv_fuzz.cc with clang, ASan and UBSan into
# build-fuzz/ and runs it for a bounded time on the seed corpus.
#
#   scripts/fuzz.sh [SECONDS]        # default 60; 0 = build only
#
# Needs the Debian packages clang (clang++, and libclang-rt-14-dev, which holds libFuzzer and
# the sanitizer runtimes, as a dependency) and libabsl-dev. Only the roster text sources are
# compiled (no gRPC/protobuf). Seeds: tests/fuzz/corpus/ and, read in place when present,
# ../shared/testdata/csv-spectrum/csvs/. New inputs go to build-fuzz/corpus/, crashes to
# build-fuzz/artifacts/. Exits non-zero on a build failure or on any crash, leak, sanitizer
# report or failed property.
# Env: FUZZ_BUILD_DIR (default <repo>/build-fuzz), CXX_FUZZ (default clang++), FUZZ_ARGS (extra
# libFuzzer flags).
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]]; then
  echo "fuzz.sh: SECONDS must be a whole number, got '$seconds'" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${FUZZ_BUILD_DIR:-$root/build-fuzz}"

cxx="${CXX_FUZZ:-}"
if [[ -z "$cxx" ]]; then
  for c in clang++ clang++-14; do
    if command -v "$c" >/dev/null 2>&1; then cxx="$c"; break; fi
  done
fi
if [[ -z "$cxx" ]]; then
  echo "fuzz.sh: clang++ not found; install the Debian package 'clang' (apt-get install clang)" >&2
  exit 1
fi
if ! pkg-config --exists absl_status absl_statusor absl_strings absl_str_format; then
  echo "fuzz.sh: Abseil pkg-config files not found; install the Debian package 'libabsl-dev'" >&2
  exit 1
fi

sources=(
  tests/fuzz/csv_fuzz.cc
  services/roster/csv_reader.cc
  services/roster/csv_text_reader.cc
  services/roster/delimiter_sniffer.cc
  services/roster/text_decoder.cc
  services/roster/field_mapping.cc
)
bin="$out/csv_fuzz"
mkdir -p "$out/corpus" "$out/artifacts"

# Rebuild when the binary is missing or older than any roster/fuzz source or header.
rebuild=0
if [[ ! -x "$bin" ]]; then
  rebuild=1
elif [[ -n "$(find "$root/services/roster" "$root/tests/fuzz" "$root/scripts/fuzz.sh" \
               \( -name '*.h' -o -name '*.cc' -o -name 'fuzz.sh' \) -newer "$bin" -print -quit)" ]]; then
  rebuild=1
fi
if (( rebuild )); then
  echo "fuzz.sh: building $bin with $cxx"
  # shellcheck disable=SC2046
  (cd "$root" && "$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
      -I"$root" $(pkg-config --cflags absl_status absl_statusor absl_strings absl_str_format) \
      "${sources[@]}" \
      $(pkg-config --libs absl_status absl_statusor absl_strings absl_str_format) \
      -o "$bin.tmp")
  mv "$bin.tmp" "$bin"
fi
(( seconds == 0 )) && exit 0

seeds=("$root/tests/fuzz/corpus")
spectrum="$root/../shared/testdata/csv-spectrum/csvs"
[[ -d "$spectrum" ]] && seeds+=("$spectrum")

echo "fuzz.sh: running csv_fuzz for ${seconds}s"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# The first directory receives new inputs; the seed directories are only read.
# shellcheck disable=SC2086
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
  -dict="$root/tests/fuzz/csv.dict" -artifact_prefix="$out/artifacts/" \
  -print_final_stats=1 ${FUZZ_ARGS:-} "$out/corpus" "${seeds[@]}"
