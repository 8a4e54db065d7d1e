#!/bin/sh
# experiment/mpi_smoke.sh BUILD: the quick experiment under mpirun (make test; docs/DESIGN.md
# §9.2). Checks, each against the rows of one process alone (wall times, the counts of runs
# training at once and the inference times aside: they depend on the machine, not on the
# training):
#   - 2 and 3 ranks write the same rows as 1, and rank 0 trained only part of the runs;
#   - a rank given another --threads (the plan's results change with it) is refused
#     before any training, every rank exiting non-zero, the difference named;
#   - a rank killed with SIGKILL in the middle of a run stops the job (non-zero, the
#     part-trained run named, none of the killed rank's runs left training), and a rerun
#     resumes it (its rows up to the checkpoint kept as they were, wall times and all)
#     and writes the same rows, none lost or twice.
# One run at a time on each rank (--jobs 1); Open MPI as root needs
# OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 (the Makefile sets them). No
# timing is a pass condition: the time limits below only bound a hang.
set -u
B=${1:-build}
X=./$B/experiment
D=$B/quick/experiment-mpi
fail() { echo "experiment mpi smoke: FAIL: $*"; exit 1; }
command -v mpirun >/dev/null || fail "no mpirun (make deps installs openmpi-bin)"
# Ranks that wait for each other forever (a collective one of them skips) fail the test
# instead of hanging it: each job is stopped after 5 minutes.
MPIRUN="timeout -k 10 300 mpirun --oversubscribe"
export OMP_NUM_THREADS=1
Q="--quick --jobs 1"

rm -rf "$D" && mkdir -p "$D" || fail "cannot create $D"
$X $Q --work "$D/w1" --out "$D/k1" 2>"$D/k1.log" || { cat "$D/k1.log"; fail "the run of one process failed"; }
CSV=$D/k1/experiment.csv
# the columns that depend on the machine: wall_s, jobs_min, jobs_max (adjacent), and the
# inference check's times (its last columns, from prefill_s on)
W=$(head -1 "$CSV" | tr ',' '\n' | grep -n '"wall_s"' | cut -d: -f1)
J=$(head -1 "$CSV" | tr ',' '\n' | grep -n '"jobs_max"' | cut -d: -f1)
P=$(head -1 "$D/k1/experiment_infer.csv" | tr ',' '\n' | grep -n '"prefill_s"' | cut -d: -f1)
[ -n "$W" ] && [ "$J" = $((W + 2)) ] && [ -n "$P" ] || fail "unexpected columns in $CSV"
rows() { cut -d, -f"$W-$J" --complement "$1/experiment.csv"; cut -d, -f"$P"- --complement "$1/experiment_infer.csv"; }
rows "$D/k1" >"$D/k1.rows"
RUNS=$(($(wc -l <"$D/k1/experiment_infer.csv") - 1))
[ "$RUNS" -ge 4 ] || fail "the quick plan has $RUNS runs"

# The same rows from 2 and 3 ranks; rank 0 prints a start line for its own runs only.
for K in 2 3; do
    $MPIRUN -np $K $X $Q --work "$D/w$K" --out "$D/k$K" </dev/null >"$D/k$K.log" 2>&1 ||
        { cat "$D/k$K.log"; fail "the run over $K ranks failed"; }
    grep -q "over $K ranks" "$D/k$K.log" || { cat "$D/k$K.log"; fail "$K ranks: not run over $K ranks"; }
    S=$(grep -c '^experiment: start ' "$D/k$K.log")
    [ "$S" -ge 1 ] && [ "$S" -lt "$RUNS" ] || fail "$K ranks: rank 0 started $S of the $RUNS runs"
    rows "$D/k$K" >"$D/k$K.rows"
    cmp -s "$D/k1.rows" "$D/k$K.rows" ||
        { diff "$D/k1.rows" "$D/k$K.rows" | head; fail "$K ranks wrote other rows than one process"; }
done

# A rank with another --threads: refused before the work dir is even made, by every rank.
# Each rank runs under sh, which says its exit status (mpirun reports only the first).
# Unbound (mpirun binds each of 2 ranks to one core), so that --threads 2 fits the CPUs a
# rank may use and what refuses it is the ranks' disagreement, not the threads bound.
$MPIRUN --bind-to none -np 1 sh -c "$X $Q --work $D/wm --out $D/km; echo rank exit \$?" : \
    -np 1 sh -c "$X $Q --threads 2 --work $D/wm --out $D/km; echo rank exit \$?" \
    </dev/null >"$D/km.log" 2>&1
grep -q 'threads: 1 on rank 0, 2 on rank 1' "$D/km.log" || { cat "$D/km.log"; fail "the refusal does not name --threads"; }
[ "$(grep -c '^rank exit 2$' "$D/km.log")" = 2 ] || { cat "$D/km.log"; fail "a mismatched job: not every rank exited 2"; }
[ ! -e "$D/wm" ] && ! grep -q '^experiment: start ' "$D/km.log" || fail "a mismatched job trained or made its work dir"

# Kill rank 1 (SIGKILL) while its run holds after a checkpoint, then rerun.
$MPIRUN -np 1 $X $Q --work "$D/wk" --out "$D/kk" : -np 1 $X $Q --work "$D/wk" --out "$D/kk" \
    --hold-after-checkpoints 2 </dev/null >"$D/kill.log" 2>&1 &
JOB=$!
i=0
until grep -q 'holding after its step' "$D/kill.log"; do
    i=$((i + 1))
    [ $i -lt 1200 ] || { kill "$JOB"; cat "$D/kill.log"; fail "rank 1 never held its run"; }
    sleep 0.1
done
HELD=$(grep 'holding after its step' "$D/kill.log" | head -1)
RUN=$(echo "$HELD" | sed 's/^experiment: \([^:]*\):.*/\1/')
CHILD=$(echo "$HELD" | sed 's/.* pid \([0-9]*\),.*/\1/')
RANK=$(echo "$HELD" | sed 's/.* parent \([0-9]*\)$/\1/')
kill -9 "$RANK" || fail "could not kill rank 1 (pid $RANK)"
wait "$JOB"
[ $? != 0 ] || { cat "$D/kill.log"; fail "the job went on with a rank killed"; }
grep -q "part-trained: .*$RUN" "$D/kill.log" || { cat "$D/kill.log"; fail "the part-trained run $RUN was not named"; }
# alive: a process that is not a zombie (an orphan's reaper may take its time)
alive() { S=$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null) && [ -n "$S" ] && [ "$S" != Z ]; }
i=0
while alive "$CHILD"; do
    i=$((i + 1))
    [ $i -lt 100 ] || { kill "$CHILD"; fail "the killed rank's run $RUN (pid $CHILD) is still training"; }
    sleep 0.1
done
[ -f "$D/wk/ckpt/$RUN.ckpt" ] || fail "no checkpoint of $RUN to resume from"
# The run's rows up to its checkpoint, wall times and all: a rerun that resumes keeps them
# as they are, one that trained the run again from step 0 would time them anew.
tail -n +2 "$D/wk/ckpt/$RUN.rows.csv" >"$D/kept.rows"
[ "$(wc -l <"$D/kept.rows")" -ge 2 ] || fail "$RUN has no rows past step 0 to resume after"
$MPIRUN -np 2 $X $Q --work "$D/wk" --out "$D/kk" </dev/null >"$D/rerun.log" 2>&1 ||
    { cat "$D/rerun.log"; fail "the rerun failed"; }
grep -q "resuming from their checkpoints: .*$RUN" "$D/rerun.log" || { cat "$D/rerun.log"; fail "the rerun did not resume $RUN"; }
grep -F -x -f "$D/kept.rows" "$D/kk/experiment.csv" | cmp -s - "$D/kept.rows" ||
    fail "the rerun trained $RUN again instead of resuming it from its checkpoint"
rows "$D/kk" >"$D/kk.rows"
cmp -s "$D/k1.rows" "$D/kk.rows" || { diff "$D/k1.rows" "$D/kk.rows" | head; fail "the resumed job wrote other rows"; }
DUP=$(cut -d, -f1,2,11,12,14 "$D/kk/experiment.csv" | sort | uniq -d | head -1)
[ -z "$DUP" ] || fail "a row twice after the rerun: $DUP"
echo "experiment mpi smoke: ok (2 and 3 ranks: the rows of one process; a mismatched rank refused; a killed rank's run resumed, no row lost or twice)"
