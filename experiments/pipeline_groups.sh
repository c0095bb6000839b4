#!/usr/bin/env bash
# The distillation study's student groups in the few-shot pipeline (`fewner distill-from`):
# the teacher (icl-fast, fitted on a 5-shot CoNLL-2003 support set) labels N CoNLL-2003 train
# sentences (their labels dropped) and, for C and E, N BBC News sentences too; "original" is
# the support set (the study's groups A-E with five examples instead of 1,000 gold sentences).
#   A  the support set alone          (the support_only row of every run)
#   B  teacher labels, CoNLL pool     schedule distilled
#   C  teacher labels, CoNLL + BBC    schedule distilled
#   D  simple mix, CoNLL pool         schedule simple_mix (the pipeline's default)
#   E  simple mix, CoNLL + BBC        schedule simple_mix
#
#   experiments/pipeline_groups.sh [OUT]        # default OUT: runs/pipeline-groups
#
# Environment: SETS (support sets, default "0"), N (pool sentences per source, default 1000),
# DATASET (default conll), TEACHER (default icl-fast), EXTRA (more arguments of
# experiments/distill_from_support.py, e.g. "--set epochs=1 --set test.limit=50" for a smoke run).
# E runs first and labels CoNLL + BBC once; the other groups start
# from its labels (each learns its own pool only). Every run resumes when rerun.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-runs/pipeline-groups}
SETS=${SETS:-0}
N=${N:-1000}
DATASET=${DATASET:-conll}
TEACHER=${TEACHER:-icl-fast}
read -r -a EXTRA_ARGS <<< "${EXTRA:-}"
PY=${PY:-python}
run() {  # run GROUP ARGS...
  local group=$1; shift
  echo "== group $group" >&2
  $PY "$HERE/experiments/distill_from_support.py" --dataset "$DATASET" --sets $SETS --pools "$N" \
    --teacher "$TEACHER" --out "$OUT/$group" "${EXTRA_ARGS[@]}" "$@"
}
run E --also "bbc_news:$N:0"
run C --also "bbc_news:$N:0" --schedule distilled --labels-from "$OUT/E"
run D --labels-from "$OUT/E"
run B --schedule distilled --labels-from "$OUT/E"
for group in B C D E; do
  echo "## group $group"
  $PY "$HERE/experiments/distill_from_support.py" --dataset "$DATASET" --sets $SETS --pools "$N" \
    --out "$OUT/$group" --summarize --json > "$OUT/$group.table.txt"
  sed -n '1,/^{/p' "$OUT/$group.table.txt" | sed '$d'
done
