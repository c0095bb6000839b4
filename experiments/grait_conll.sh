#!/usr/bin/env bash
# The README's refusal-aware tuning table: SmolLM2 (or MODEL) after a shared base SFT stage on
# CoNLL-2003 train sentences 0..BASE_N-1, then on train sentences BASE_N..BASE_N+SPLIT_N-1 (the
# "refusal split") one of
#   sft    plain SFT: the gold answer for every prompt
#   rait   refusal-aware SFT: prompts the base model gets wrong (knowledge query) get the refusal
#          answer, all of them, weight 1 (refusal.select=null, refusal.weights=uniform)
#   grait  GRAIT: the refusal answer for the unknown prompts chosen by gradient influence
#          (refusal.select=SELECT), weighted by the adaptive softmax (refusal.weights=adaptive)
#   grait-gold  GRAIT whose unchosen unknown prompts keep their gold answer
#          (refusal.unselected=gold; reuses grait's knowledge query and gradient features)
# each scored on the first TEST_N CoNLL-2003 test sentences (span P/R/F1 and per-prompt correct /
# wrong / refused rates; the base run's own test scores are the THS baseline). All runs decode
# with the refusal answer allowed (test.abstain=true), so they differ only in training.
#
#   experiments/grait_conll.sh OUT [--set KEY=VALUE ...]
#
# Sizes (environment): BASE_N=100 SPLIT_N=75 TEST_N=100 SAMPLES=3 WARMUP=10 SELECT=0.5.
# REFUSAL_SET: space-separated KEY=VALUE of the refusal: block for the rait and grait runs.
# RUNS="base sft rait grait grait-gold" runs a subset (the variants need base first; grait reuses rait's
# knowledge query when rait ran first: same stage-start adapter, prompts and settings).
# experiments/summarize_grait.py OUT prints the table (--json for the results file).
set -euo pipefail
OUT=${1:?usage: experiments/grait_conll.sh OUT [--set KEY=VALUE ...]}
shift
EXTRA=("$@")
HERE=$(cd "$(dirname "$0")/.." && pwd)
FEWNER=${FEWNER:-fewner}
BASE_N=${BASE_N:-100}
SPLIT_N=${SPLIT_N:-75}
TEST_N=${TEST_N:-100}
SAMPLES=${SAMPLES:-3}
WARMUP=${WARMUP:-10}
SELECT=${SELECT:-0.5}
RUNS=${RUNS:-base sft rait grait grait-gold}
mkdir -p "$OUT"

source "$HERE/experiments/_common.sh"  # timed

COMMON=(--set "stages.base.data.limit=$BASE_N" --set "stages.refusal.data.skip=$BASE_N"
  --set "stages.refusal.data.limit=$SPLIT_N" --set "test.data.limit=$TEST_N" --set test.abstain=true
  --set "stages.refusal.refusal.samples=$SAMPLES" --set "stages.refusal.refusal.warmup_steps=$WARMUP")
VARIANT=(--set stages.base.enabled=false --set "init_adapter=$OUT/base/base/adapter")
# REFUSAL_SET="warmup_lr=1e-3 threshold=0.4": keys of the refusal: block, for rait and grait only
# (the plain-SFT variant has no refusal block, so such a --set in EXTRA would make it fail)
REFUSAL=()
for kv in ${REFUSAL_SET:-}; do REFUSAL+=(--set "stages.refusal.refusal.$kv"); done
# ${VAR[@]+...}: an empty EXTRA under set -u
timed base $FEWNER train --config "$HERE/configs/grait.yaml" --out "$OUT/base" --no-progress \
  "${COMMON[@]}" --set stages.refusal.enabled=false ${EXTRA[@]+"${EXTRA[@]}"}
timed sft $FEWNER train --config "$HERE/configs/grait.yaml" --out "$OUT/sft" --no-progress \
  "${COMMON[@]}" "${VARIANT[@]}" --set stages.refusal.kind=sft --set stages.refusal.refusal=null \
  ${EXTRA[@]+"${EXTRA[@]}"}
timed rait $FEWNER train --config "$HERE/configs/grait.yaml" --out "$OUT/rait" --no-progress \
  "${COMMON[@]}" "${VARIANT[@]}" --set stages.refusal.refusal.select=null \
  --set stages.refusal.refusal.weights=uniform ${REFUSAL[@]+"${REFUSAL[@]}"} ${EXTRA[@]+"${EXTRA[@]}"}
if [[ " $RUNS " == *" grait "* && -f "$OUT/rait/refusal/knowledge.jsonl" && ! -e "$OUT/grait" ]]; then
  mkdir -p "$OUT/grait/refusal" && cp "$OUT/rait/refusal/knowledge.jsonl" "$OUT/grait/refusal/"
fi
timed grait $FEWNER train --config "$HERE/configs/grait.yaml" --out "$OUT/grait" --no-progress \
  "${COMMON[@]}" "${VARIANT[@]}" --set "stages.refusal.refusal.select=$SELECT" \
  --set stages.refusal.refusal.weights=adaptive ${REFUSAL[@]+"${REFUSAL[@]}"} ${EXTRA[@]+"${EXTRA[@]}"}
if [[ " $RUNS " == *" grait-gold "* && -f "$OUT/grait/refusal/features.pt" && ! -e "$OUT/grait-gold" ]]; then
  mkdir -p "$OUT/grait-gold/refusal"
  cp "$OUT/grait/refusal/knowledge.jsonl" "$OUT/grait/refusal/features.pt" "$OUT/grait-gold/refusal/"
fi
timed grait-gold $FEWNER train --config "$HERE/configs/grait.yaml" --out "$OUT/grait-gold" \
  --no-progress "${COMMON[@]}" "${VARIANT[@]}" --set "stages.refusal.refusal.select=$SELECT" \
  --set stages.refusal.refusal.weights=adaptive --set stages.refusal.refusal.unselected=gold \
  ${REFUSAL[@]+"${REFUSAL[@]}"} ${EXTRA[@]+"${EXTRA[@]}"}
python3 "$HERE/experiments/summarize_grait.py" "$OUT"
