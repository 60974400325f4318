#!/usr/bin/env bash
# Instructions per iteration of every row of a bench binary, counted with
# cachegrind (load-independent, unlike times): each row runs twice, with
# ITERS=$LOW and ITERS=$HIGH iterations, and the difference divided by
# HIGH-LOW cancels the start-up cost.
#
#   benches/instructions.sh stack 8     # rows 0..8 of benches/stack.rs
#   benches/instructions.sh parse 14    # rows 0..14 of benches/parse.rs
#   FEATURES=redis benches/instructions.sh quota_lease 3
set -euo pipefail
bench=$1 rows=$2
low=${LOW:-2000} high=${HIGH:-12000}
cargo bench --no-run ${FEATURES:+--features "$FEATURES"} --bench "$bench" 2>/dev/null
exe=$(ls -t target/release/deps/"$bench"-* | grep -v '\.d$' | head -1)
count() {
    COUNT=$1 ITERS=$2 valgrind --tool=cachegrind --cache-sim=no \
        --cachegrind-out-file=/dev/null "$exe" 2>&1 |
        awk '/I *refs:/ { gsub(",", "", $NF); n = $NF } END { print n }'
}
name() { COUNT=$1 ITERS=0 "$exe" 2>&1 | sed -n 's/^row [0-9]*: //p'; }
for ((row = 0; row < rows; row++)); do
    a=$(count "$row" "$low")
    b=$(count "$row" "$high")
    printf '%-60s %8d instructions\n' "$(name "$row")" $(((b - a) / (high - low)))
done
