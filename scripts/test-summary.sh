#!/usr/bin/env bash
# Sums cargo's "test result:" lines of a test log into one closing line.
set -euo pipefail
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i; if ($(i+1) ~ /^ignored;?$/) s += $i } }
     END { if (p + f == 0) { print "summary: no test ran" > "/dev/stderr"; exit 1 } printf "summary: %d passed, %d failed, %d skipped\n", p, f, s; exit (f > 0) }' "$1"
