#!/usr/bin/env bash
# The fuzz targets of Regio's parsers (README.md beside this script).
#
#   fuzz.sh build                      build every target (nightly, cargo-fuzz)
#   fuzz.sh run TARGET [ARGS…]         fuzz TARGET; ARGS go to libFuzzer (-runs=10000000 …)
#   fuzz.sh ci [RUNS]                  three targets briefly (RUNS runs, default 20000, and
#                                      at most 20 s each): sql_plan, document_verify,
#                                      ingest_ndjson. A cold build of the light targets took
#                                      27 min on the loaded 2-core machine, so CI builds and
#                                      runs only three of them (the build is the same for all
#                                      six; rr_cbor and config_toml need libp2p and the node)
#
# Same build flags everywhere (one build serves all): release with debug assertions and
# overflow checks, no sanitizer (the code is safe Rust; a panic, an overflow, a timeout or an
# allocation over the RSS limit is what a target finds). New inputs go to a scratch corpus
# (FUZZ_SCRATCH, default target/scratch/TARGET), never into the committed seeds in corpus/.
# CARGO_TARGET_DIR, when set, is the build directory (default: target/ here).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here/../.."
# Built without the default features (no libp2p, no node crate: a much shorter build).
light=(ingest_csv ingest_ndjson ingest_ngsild partial_wire document_verify sql_plan)
# rr_cbor and config_toml need the `net` / `node` features (the default).
target_dir="${CARGO_TARGET_DIR:-$here/target}"
flags=(--fuzz-dir "$here" --sanitizer none --debug-assertions --target-dir "$target_dir")

dict_of() {
  case "$1" in
    sql_plan) echo "-dict=$here/dict/sql.dict" ;;
    config_toml) echo "-dict=$here/dict/toml.dict" ;;
    ingest_csv | rr_cbor) ;;
    *) echo "-dict=$here/dict/json.dict" ;;
  esac
}

features_of() {
  case " ${light[*]} " in
    *" $1 "*) echo "--no-default-features" ;;
  esac
}

run() {
  local target="$1"
  shift
  local scratch="${FUZZ_SCRATCH:-$target_dir/scratch}/$target"
  mkdir -p "$scratch"
  # libFuzzer writes new inputs into the first corpus directory.
  cargo +nightly fuzz run "${flags[@]}" $(features_of "$target") "$target" "$scratch" "$here/corpus/$target" -- \
    -rss_limit_mb=2048 -timeout=10 -max_len=65536 $(dict_of "$target") "$@"
}

case "${1:-}" in
  build)
    cargo +nightly fuzz build "${flags[@]}" --no-default-features
    cargo +nightly fuzz build "${flags[@]}"
    ;;
  run)
    shift
    run "$@"
    ;;
  ci)
    runs="${2:-20000}"
    cargo +nightly fuzz build "${flags[@]}" --no-default-features
    for t in sql_plan document_verify ingest_ndjson; do
      echo "== fuzz $t ($runs runs)"
      log="$target_dir/ci-$t.log"
      if ! run "$t" -runs="$runs" -max_total_time=20 -print_final_stats=1 >"$log" 2>&1; then
        tail -n 60 "$log"
        echo "fuzz target $t failed (crash input under $here/artifacts/$t)"
        exit 1
      fi
      grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)" "$log" || true
    done
    ;;
  *)
    sed -n '2,13p' "$0"
    exit 2
    ;;
esac
