# Sourced by the side-by-side scripts. `timed NAME COMMAND...` runs COMMAND with its output in $out/NAME.log and
# writes its wall-clock seconds to $out/NAME.seconds and its peak RSS (KiB) to $out/NAME.rss; a failure is
# reported on one line and the script goes on. Needs $out (the run folder) and bc.
timed() {
  local name=$1; shift
  local start; start=$(date +%s.%N)
  /usr/bin/time -f %M -o "$out/$name.rss" "$@" >"$out/$name.log" 2>&1 || echo "FAILED $name: $(tail -1 "$out/$name.log")"
  echo "$(date +%s.%N) - $start" | bc >"$out/$name.seconds"
}
