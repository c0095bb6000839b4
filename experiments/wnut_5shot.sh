#!/usr/bin/env bash
# The README's WNUT-17 5-shot table: SmolLM2 (or MODEL) without training, with SFT, with SFT +
# attn_contrastive (OBP-LLM), with SFT + hidden_contrastive (CLLMFS's term) and with SFT +
# attn_contrastive followed by DPO (OBP-LLM's third stage), all trained on
# samples-wnut-5shot/0.txt (after the recipe's source stage on 300 CoNLL-2003 sentences) and
# scored on the first 200 WNUT-17 test sentences. The three trained runs share everything but
# the contrastive term: the obp-llm template, the obp-llm LoRA preset and the seed.
#
#   experiments/wnut_5shot.sh OUT [MODEL] [--set KEY=VALUE ...]
#
# RUNS="source sft" runs a subset (default: all; the trained variants need source first). PREDICT_BATCH sets the generation
# batch of the untrained run (default 16). Runs one after another; each writes its own run folder with config, logs and metrics, and
# experiments/summarize.py OUT prints the table. Data: $FEWNER_SHARED_DATA or ../shared/data.
set -euo pipefail
OUT=${1:?usage: experiments/wnut_5shot.sh OUT [MODEL] [--set KEY=VALUE ...]}
MODEL=${2:-smollm2-135m-instruct}
shift; [[ $# -gt 0 ]] && shift
EXTRA=("$@")
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=${FEWNER_SHARED_DATA:-$HERE/../shared/data}
FEWNER=${FEWNER:-fewner}
TYPES=corporation,creative-work,group,location,person,product
TEST=$DATA/wnut17/emerging.test.annotated
mkdir -p "$OUT"

RUNS=${RUNS:-untrained source sft sft-attn sft-hidden sft-attn-dpo}

source "$HERE/experiments/_common.sh"  # timed

timed untrained $FEWNER predict --model "$MODEL" --types "$TYPES" --definitions wnut17 \
  --template obp-llm --limit 200 --batch-size "${PREDICT_BATCH:-16}" --gold "$TEST" "$TEST" -o "$OUT/untrained/predictions.jsonl"
# The source stage (SFT on 300 CoNLL-2003 sentences) is the same in the three trained variants
# (same data, loss, seed): it runs once, and each variant starts its target stage from its
# adapter (init_adapter), exactly as the two-stage recipe would (stage seeds do not depend on
# which stages are enabled).
SOURCE=(--set stages.target.enabled=false --set stages.dpo.enabled=false --set test=null --set dev=null)
TARGET=(--set stages.source.enabled=false --set stages.dpo.enabled=false --set "init_adapter=$OUT/source/source/adapter")
# DPO (OBP-LLM's third stage) continues the SFT + attn_contrastive adapter; its reference is that adapter.
DPO=(--set stages.source.enabled=false --set stages.target.enabled=false --set "init_adapter=$OUT/sft-attn/adapter")
timed source $FEWNER train --config "$HERE/configs/obp-llm.yaml" --out "$OUT/source" --set "model=$MODEL" \
  "${SOURCE[@]}" "${EXTRA[@]}"
timed sft $FEWNER train --config "$HERE/configs/obp-llm.yaml" --out "$OUT/sft" --set "model=$MODEL" \
  "${TARGET[@]}" --set 'stages.target.loss=[{name: nll}]' "${EXTRA[@]}"
timed sft-attn $FEWNER train --config "$HERE/configs/obp-llm.yaml" --out "$OUT/sft-attn" --set "model=$MODEL" \
  "${TARGET[@]}" "${EXTRA[@]}"
timed sft-hidden $FEWNER train --config "$HERE/configs/obp-llm.yaml" --out "$OUT/sft-hidden" --set "model=$MODEL" \
  "${TARGET[@]}" --set 'stages.target.loss=[{name: nll}, {name: hidden_contrastive, weight: 0.001, layer: 0.8}]' "${EXTRA[@]}"
timed sft-attn-dpo $FEWNER train --config "$HERE/configs/obp-llm.yaml" --out "$OUT/sft-attn-dpo" --set "model=$MODEL" \
  "${DPO[@]}" "${EXTRA[@]}"
python3 "$HERE/experiments/summarize.py" "$OUT"
