#!/usr/bin/env bash
# Soak test of crash safety (issue 16): the kill/resume and one-writer tests N times in a row
# (default 50), with SIGINT ignored by the parent shell (the children inherit it, as under
# nohup or some CI runners) and two CPU hogs running. Prints one line per iteration and a
# summary; failing iterations keep their pytest log in $TMPDIR.
#   bash tools/soak_kill_resume.sh [N]
set -u
cd "$(dirname "$0")/.."
N=${1:-50}
PY=${PY:-.venv/bin/python}
( while :; do :; done ) & H1=$!
( while :; do :; done ) & H2=$!
trap 'kill $H1 $H2 2>/dev/null' EXIT
trap '' INT
pass=0; fail=0
for i in $(seq 1 "$N"); do
  log=$(mktemp)
  if timeout 900 "$PY" -m pytest -q -p no:cacheprovider \
      "tests/test_sweep_run.py::test_killed_sweep_leaves_no_output_and_resume_completes_it_to_the_same_bytes" \
      "tests/test_sweep_run.py::test_resume_reuses_finished_chunks" \
      "tests/test_sweep_safety.py::test_killed_sweep_resumes_to_the_same_bytes_even_when_sigint_is_ignored_by_the_parent" \
      "tests/test_sweep_safety.py::test_workers_exit_when_the_sweep_process_is_killed" \
      "tests/test_sweep_safety.py::test_a_second_run_on_the_same_output_exits_2_naming_the_holder" > "$log" 2>&1
  then pass=$((pass + 1)); rm -f "$log"; else fail=$((fail + 1)); echo "iteration $i failed: $log"; fi
  echo "$(date +%T) iteration $i: pass=$pass fail=$fail"
done
[ "$fail" -eq 0 ]
