# Shared by the experiment scripts (sourced, not run). Needs OUT and RUNS set by the caller.

timed() {  # timed NAME CMD...: run CMD (if NAME is in RUNS), record its wall time in OUT/NAME.seconds
  local name=$1; shift
  [[ " $RUNS " == *" $name "* ]] || return 0
  local start; start=$(date +%s)
  "$@"
  echo $(( $(date +%s) - start )) > "$OUT/$name.seconds"
}
