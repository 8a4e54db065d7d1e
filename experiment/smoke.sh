#!/bin/sh
# experiment/smoke.sh BUILD: the quick experiment (make test). Checks that it completes
# and writes well-formed rows: the header, the column count of every row, each task and
# both model kinds present, every number finite (train_loss may be empty at step 0: no
# step trained yet), accuracies and floors in [0, 1], no inference mismatch. Then the
# resume: the same plan stopped right after a checkpoint inside a run, twice, and
# resumed must write the same rows (wall times, the concurrent-run counts and inference
# times aside: they depend on the machine, not on the training). Runs go two at a time
# (--jobs 2) in the first pass and one at a time in the resumed one. Then a damaged
# completed run must be named and trained again, an unwritable --out refused before any
# training, and more threads than online cores refused. No timing is a pass condition
# (only that the inference times were recorded, positive).
set -u
B=${1:-build}
X=./$B/experiment
D=$B/quick/experiment-smoke
fail() { echo "experiment smoke: FAIL: $*"; exit 1; }
# Two runs at once, unless the machine has one core (more threads than cores are refused).
CORES=$(getconf _NPROCESSORS_ONLN)
JOBS=$((CORES >= 2 ? 2 : 1))

rm -rf "$D" && mkdir -p "$D" || fail "cannot create $D"
OMP_NUM_THREADS=1 $X --quick --jobs $JOBS --work "$D/work" --out "$D/a" 2>"$D.log" || { cat "$D.log"; fail "the quick run failed"; }
CSV=$D/a/experiment.csv
INF=$D/a/experiment_infer.csv
[ -f "$CSV" ] && [ -f "$INF" ] || fail "no $CSV or $INF"

awk -F, -v file="$CSV" '
NR == 1 {
    n = NF
    for (i = 1; i <= NF; i++) { h = $i; gsub(/"/, "", h); col[h] = i }
    split("task setting model budget step train_flops wall_s jobs_min jobs_max train_loss test_loss test_bits test_acc seq_acc pos_acc floor_acc floor_bits", need, " ")
    for (k in need) if (!(need[k] in col)) { print file ": no column " need[k]; bad = 1 }
    next
}
{
    if (NF != n) { print file ": record " NR " has " NF " fields, the header " n; bad = 1; next }
    for (i = 1; i <= NF; i++) gsub(/"/, "", $i)
    seen[$col["task"] "/" $col["model"]] = 1
    split("step train_flops wall_s jobs_min jobs_max test_loss test_bits test_acc seq_acc floor_acc floor_bits", num, " ")
    for (k in num) {
        v = $col[num[k]]
        if (v !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) { print file ": record " NR " " num[k] " = \"" v "\""; bad = 1 }
    }
    split("test_acc seq_acc floor_acc", frac, " ")
    for (k in frac) if ($col[frac[k]] + 0 < 0 || $col[frac[k]] + 0 > 1) { print file ": record " NR " " frac[k] " outside [0, 1]"; bad = 1 }
    if ($col["jobs_min"] < 1 || $col["jobs_max"] < $col["jobs_min"]) { print file ": record " NR " jobs range"; bad = 1 }
    np = split($col["pos_acc"], pa, ";")
    if (np != $col["n"]) { print file ": record " NR " pos_acc has " np " positions, n = " $col["n"]; bad = 1 }
    v = $col["train_loss"]
    if (!(v == "" && $col["step"] == 0) && v !~ /^-?[0-9.]+([eE][-+]?[0-9]+)?$/) {
        print file ": record " NR " train_loss = \"" v "\""; bad = 1
    }
    rows++
}
END {
    split("count3 count3_fixed induction text", tasks, " "); split("causal cubic", kinds, " ")
    for (t in tasks) for (k in kinds)
        if (!((tasks[t] "/" kinds[k]) in seen)) { print file ": no " tasks[t] " row of the " kinds[k] " model"; bad = 1 }
    if (rows < 1) { print file ": no rows"; bad = 1 }
    exit bad
}' "$CSV" || fail "malformed $CSV"

awk -F, 'NR > 1 { gsub(/"/, ""); if ($8 != 0 || $7 < 1) { print; bad = 1 } } END { exit bad }' "$INF" \
    || fail "inference check rows with mismatches or no positions in $INF"

# Resume: stop twice right after a checkpoint, then finish; rows equal but for wall_s.
OMP_NUM_THREADS=1 $X --quick --jobs $JOBS --work "$D/work" --out "$D/b" --stop-after-checkpoints 4 2>>"$D.log"
[ $? = 3 ] || fail "--stop-after-checkpoints 4 did not stop the run (exit 3)"
OMP_NUM_THREADS=1 $X --quick --work "$D/work" --out "$D/b" --stop-after-checkpoints 2 2>>"$D.log"
[ $? = 3 ] || fail "--stop-after-checkpoints 2 did not stop the run (exit 3)"
grep -q 'resuming at step' "$D.log" || fail "no run resumed from its checkpoint"
OMP_NUM_THREADS=1 $X --quick --jobs 1 --work "$D/work" --out "$D/b" 2>>"$D.log" || { cat "$D.log"; fail "the resumed run failed"; }
# wall_s, jobs_min, jobs_max: adjacent columns
W=$(head -1 "$CSV" | tr ',' '\n' | grep -n '"wall_s"' | cut -d: -f1)
J=$(head -1 "$CSV" | tr ',' '\n' | grep -n '"jobs_max"' | cut -d: -f1)
[ "$J" = $((W + 2)) ] || fail "wall_s, jobs_min, jobs_max are not adjacent in $CSV"
cut -d, -f"$W-$J" --complement "$CSV" >"$D/a.rows"
cut -d, -f"$W-$J" --complement "$D/b/experiment.csv" >"$D/b.rows"
cmp -s "$D/a.rows" "$D/b.rows" || { diff "$D/a.rows" "$D/b.rows" | head; fail "the resumed run wrote other rows"; }
# the inference check's counts, its timings aside (the last two columns)
P=$(head -1 "$INF" | tr ',' '\n' | grep -n '"prefill_s"' | cut -d: -f1)
[ -n "$P" ] || fail "$INF has no prefill_s column"
cut -d, -f"$P"- --complement "$INF" >"$D/a.infer"
cut -d, -f"$P"- --complement "$D/b/experiment_infer.csv" >"$D/b.infer"
cmp -s "$D/a.infer" "$D/b.infer" || fail "the resumed run's inference check differs"
awk -F, -v p="$P" 'NR > 1 { for (i = p; i <= NF; i++) { v = $i; gsub(/"/, "", v)
    if (!(v + 0 > 0)) { print "record " NR ": inference time \"" v "\""; bad = 1 } } }
    END { exit bad }' "$INF" || fail "inference times missing or not positive in $INF"
# A damaged completed run (an accuracy of 7) is named and trained again, not merged and
# not fatal; the rows come out as the undamaged run's.
rm -rf "$D/work"
OMP_NUM_THREADS=1 $X --quick --work "$D/work" --out "$D/c" --only count3_NB 2>>"$D.log"
[ $? = 3 ] || fail "--only did not leave the other runs undone (exit 3)"
R=$(ls "$D"/work/runs/count3_NB*_cubic_s1.csv)
sed -i '3s/^\(\([^,]*,\)\{25\}\)"[^"]*"/\1"7"/' "$R"
grep -q '"7"' "$R" || fail "could not plant the damaged accuracy"
OMP_NUM_THREADS=1 $X --quick --work "$D/work" --out "$D/c" 2>"$D.damaged.log" || { cat "$D.damaged.log"; fail "a damaged completed run stopped the experiment"; }
grep -q "column 'test_acc' is outside its domain" "$D.damaged.log" || fail "the damaged accuracy was not named"
grep -q "training it again" "$D.damaged.log" || fail "the damaged run was not trained again"
cut -d, -f"$W-$J" --complement "$D/c/experiment.csv" >"$D/c.rows"
cmp -s "$D/a.rows" "$D/c.rows" || fail "the retrained run wrote other rows"
# An output directory that cannot be written is refused before any training.
: >"$D/not-a-dir"
OMP_NUM_THREADS=1 $X --quick --work "$D/work2" --out "$D/not-a-dir/out" 2>"$D.out.log"
[ $? = 1 ] || fail "an unwritable --out was not refused"
grep -q "cannot write into the output directory" "$D.out.log" || fail "no message for an unwritable --out"
[ ! -d "$D/work2/runs" ] || [ -z "$(ls "$D/work2/runs")" ] || fail "runs were trained before the unwritable --out was found"
# More threads than online cores, per run or over the runs at once, is refused before
# anything is trained: oversubscribed OpenMP threads spin-wait and a run crawls.
for flags in "--threads $((CORES + 1)) --jobs 1" "--threads 1 --jobs $((CORES + 1))"; do
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 $X --quick $flags --work "$D/work3" --out "$D/d" 2>"$D.threads.log"
  [ $? = 2 ] || fail "$flags on $CORES cores was not refused (exit 2)"
  grep -q "but this machine has $CORES online cores" "$D.threads.log" \
    || { cat "$D.threads.log"; fail "$flags: no message giving the core count"; }
  [ ! -e "$D/work3" ] && [ ! -e "$D/d" ] || fail "$flags: something was written before the refusal"
done
echo "experiment smoke: ok ($(($(wc -l <"$CSV") - 1)) rows, every task and model kind; resumed run identical; a damaged run retrained; an unwritable --out refused; threads beyond the cores refused)"
