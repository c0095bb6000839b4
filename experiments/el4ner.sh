#!/usr/bin/env bash
# The README's EL4NER table: an in-context ensemble of SmolLM2-135M-Instruct, Gemma-3-270m and
# Qwen2.5-Coder-0.5B-Instruct (configs/el4ner.yaml, llama.cpp, 1 thread each) with the fixed
# 5-shot support set 0 of CoNLL-2003 and of WNUT-17 as demonstration pools, scored on the first
# LIMIT test sentences (default 200) of each.
#
#   experiments/el4ner.sh OUT [LIMIT] [--set KEY=VALUE ...]
#   python experiments/summarize_el4ner.py OUT          # the table (markdown; --json for JSON)
#
# Per dataset, in this order (RUNS selects a subset; DATASETS="wnut conll" by default):
#   ensemble-span      the three models, span-level retrieval; scored without and with stage 3
#   ensemble-span-val1of3  the same, stage 3 keeping a span on one "yes" of three (from the cache)
#   single-MODEL       each model alone, span-level retrieval (MODELS lists them)
#   ensemble-sentence  the three models, sentence-embedding kNN retrieval
#   ensemble-random    the three models, random demonstrations (seed 0)
# Runs of one dataset share OUT/DATASET/cache.sqlite: a single-model run reuses the stage-1
# answers of the ensemble run, and an interrupted script resumes where it stopped. Throughput of
# a run that hit the cache is not a cold-start figure: the summarizer prints the cache misses.
# Each run writes OUT/DATASET/RUN.run/{config,metrics}.json and its wall time to RUN.seconds.
# START=N skips the first N test sentences (LIMIT counts from there): a shard of the test set;
# `summarize_el4ner.py OUT1 OUT2 ...` adds up the counts of the shards and rescores them.
set -euo pipefail
OUT=${1:?usage: experiments/el4ner.sh OUT [LIMIT] [--set KEY=VALUE ...]}
LIMIT=${2:-200}
shift; [[ $# -gt 0 ]] && shift
EXTRA=("$@")
HERE=$(cd "$(dirname "$0")/.." && pwd)
DATA=${FEWNER_SHARED_DATA:-$HERE/../shared/data}
FEWNER=${FEWNER:-fewner}
DATASETS=${DATASETS:-wnut conll}
MODELS=${MODELS:-smollm2-135m-instruct gemma3-270m qwen2.5-coder-0.5b-instruct}
RUNS=${RUNS:-ensemble-span single ensemble-sentence ensemble-random}
START=${START:-0}

for ds in $DATASETS; do
  case $ds in
    wnut) TEST=$DATA/wnut17/emerging.test.annotated; DEFS=wnut17 ;;
    conll) TEST=$DATA/conll2003/test.txt; DEFS=conll2003 ;;
    *) echo "unknown dataset $ds (wnut, conll)" >&2; exit 2 ;;
  esac
  POOL=$DATA/domain_transfer_support_sets/samples-$ds-5shot/0.txt
  DIR=$OUT/$ds
  mkdir -p "$DIR"
  icl() {  # icl NAME ARGS...: one fewner icl run, its wall time in DIR/NAME.seconds
    local name=$1; shift
    local start; start=$(date +%s)
    $FEWNER icl --config "$HERE/configs/el4ner.yaml" --pool "$POOL" --definitions "$DEFS" \
      --start "$START" --limit "$LIMIT" --gold "$TEST" --cache "$DIR/cache.sqlite" "$TEST" -o "$DIR/$name.jsonl" \
      "$@" "${EXTRA[@]}"
    echo $(( $(date +%s) - start )) > "$DIR/$name.seconds"
  }
  for run in $RUNS; do
    case $run in
      ensemble-span|ensemble-sentence|ensemble-random) icl "$run" --retrieval "${run#ensemble-}" ;;
      ensemble-span-val1of3) icl "$run" --retrieval span --set validate.threshold=0.3 ;;
      single) for m in $MODELS; do icl "single-$m" --retrieval span --models "$m"; done ;;
      *) echo "unknown run $run" >&2; exit 2 ;;
    esac
  done
done
