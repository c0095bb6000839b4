#!/usr/bin/env bash
# The README's distillation numbers: teacher annotation quality (standard vs chain-of-thought)
# on the first 200 CoNLL-2003 training sentences, the study's student groups trained on the
# first 1000 (A original, B distilled, D simple mix; C and E add 1000 distilled BBC sentences)
# and scored on the whole CoNLL-2003 test set, and the student's speed next to spaCy's
# en_core_web_sm.
#
#   experiments/distill_conll.sh [OUT]          # default OUT: runs/distill
#
# Environment:
#   STEPS    which steps, in order (default: "quality annotate students bench");
#            add "bbc" (annotate 1000 BBC sentences) to enable groups C and E
#   TEACHER  catalogue name or GGUF path of the teacher (default qwen2.5-coder-0.5b-instruct;
#            smollm2-135m-instruct is installed by ./dev but answers mostly nonsense)
#   STUDENTS student groups (default "A B D"; "A B C D E" with the bbc step)
#   EPOCHS   student epochs (default 10, the config's; fewer for a quick run)
#   THREADS  llama.cpp and torch threads (default 2)
#   DISTILL_SET  extra space-separated KEY=VALUE overrides for every student run
#            (e.g. "original.limit=200 test.limit=500" for a quick check)
#   STYLES   annotation styles of the quality step (default "standard cot")
#   N_QUALITY / N_DISTILL / N_BBC  sentence counts (200 / 1000 / 1000)
#
# Every step resumes: the teacher's answers are cached in OUT/annotations/teacher-*.sqlite
# (the 200 quality sentences are the first 200 of the 1000 distilled ones, so they are
# answered once), and a student run folder that exists is continued with --resume.
set -euo pipefail
HERE=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-runs/distill}
DATA=${FEWNER_SHARED_DATA:-$HERE/../shared/data}
FEWNER=${FEWNER:-fewner}
PY=${PY:-python}
TEACHER=${TEACHER:-qwen2.5-coder-0.5b-instruct}
STEPS=${STEPS:-quality annotate students bench}
STUDENTS=${STUDENTS:-A B D}
EPOCHS=${EPOCHS:-10}
THREADS=${THREADS:-2}
STYLES=${STYLES:-standard cot}
N_QUALITY=${N_QUALITY:-200}
N_DISTILL=${N_DISTILL:-1000}
N_BBC=${N_BBC:-1000}
TRAIN=$DATA/conll2003/train.txt
ANN=$OUT/annotations
mkdir -p "$ANN"

step() { [[ " $STEPS " == *" $1 "* ]]; }
timed() {  # timed NAME CMD...: run CMD and record its wall time in ANN/NAME.seconds
  local name=$1; shift
  local start; start=$(date +%s)
  "$@"
  echo $(( $(date +%s) - start )) > "$ANN/$name.seconds"
}
annotate() {  # annotate STYLE CACHE OUTPUT ARGS...
  local style=$1 cache=$2 output=$3; shift 3
  $FEWNER annotate --backend llamacpp --model "$TEACHER" -O n_threads="$THREADS" \
    --style "$style" --definitions conll2003 --demos-from "$DATA/conll2003/valid.txt" --demos 3 \
    --cache "$ANN/$cache" -o "$output" "$@"
}

if step quality; then
  for style in $STYLES; do
    timed "quality-$style" annotate "$style" "teacher-$style.sqlite" "$ANN/conll-train$N_QUALITY-$style.jsonl" \
      "$TRAIN" --limit "$N_QUALITY" --gold "$TRAIN"
  done
fi
if step annotate; then
  timed distill-conll annotate standard teacher-standard.sqlite "$ANN/conll-train$N_DISTILL-standard.jsonl" \
    "$TRAIN" --limit "$N_DISTILL" --gold "$TRAIN"
fi
if step bbc; then
  timed distill-bbc annotate standard teacher-bbc.sqlite "$ANN/bbc$N_BBC-standard.jsonl" \
    "$DATA/bbc_news" --limit "$N_BBC" --sample-seed 0
fi
if step students; then
  conll="{path: $ANN/conll-train$N_DISTILL-standard.jsonl}"
  bbc="{path: $ANN/bbc$N_BBC-standard.jsonl}"
  for group in $STUDENTS; do
    run=$OUT/group-$group
    extra=()
    [[ -f $run/config.json ]] && extra+=(--resume)
    for kv in ${DISTILL_SET:-}; do extra+=(--set "$kv"); done
    case $group in
      B|D) extra+=(--set "distilled=[$conll]") ;;
      C|E) extra+=(--set "distilled=[$conll, $bbc]") ;;
    esac
    $FEWNER distill --config "$HERE/configs/distill.yaml" --group "$group" --out "$run" \
      --set "epochs=$EPOCHS" --set "threads=$THREADS" --set "data_root=$DATA" "${extra[@]}"
  done
fi
if step bench; then
  student=$OUT/group-A/student
  $PY "$HERE/benchmarks/bench_student_vs_spacy.py" --sentences 1000 --threads "$THREADS" --repeat 2 \
    $([[ -d $student ]] && echo --student "$student")
fi
$PY "$HERE/experiments/summarize_distill.py" "$OUT"  # prints the runs, writes OUT/summary.json
