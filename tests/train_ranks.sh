#!/bin/sh
# train_ranks.sh BUILD: prefix-parallel training under mpirun (docs/DESIGN.md §8.2), in
# make test. For each case, a run without mpirun (one rank) and runs of K = 2 and 3 ranks
# (mpirun -np K --oversubscribe) of build/train_ranks must give:
#   - the first step's gradient of one rank, tensor by tensor, within verify's model
#     tolerance (train_ranks --against);
#   - the trained parameters of one rank, to 1% of how far training moved them
#     (--params-against), and the same bits on every rank (checked by every run);
#   - the same bits when run again at the same K.
# Then each check is shown to fail on its planted bug, and ranks given other flags are
# refused before any training.
set -eu
BUILD=${1:-build}
BIN=$BUILD/train_ranks
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
MPIRUN="mpirun --oversubscribe --bind-to none"
fail() { echo "train_ranks.sh: FAIL: $*" >&2; exit 1; }

# case name, then the driver's flags: the packed cubic model split inside one sequence
# and across three sequences, and the causal model (split by whole sequences; cubic_loop
# splits as the packed model does, and verify's check `parts` covers every kind on every
# implementation without MPI). --init-check: the weights of verify's tolerance (every
# activation of order one).
run_case() {
    name=$1; shift
    d=$TMP/$name
    mkdir -p "$d"
    "$BIN" --init-check "$@" --grads "$d/g1" --params "$d/p1" >"$d/out1" 2>&1 ||
        { cat "$d/out1"; fail "$name: one rank"; }
    for K in 2 3; do
        $MPIRUN -np $K "$BIN" --init-check "$@" --against "$d/g1" --params-against "$d/p1" \
            --params "$d/p$K" >"$d/out$K" 2>&1 || { cat "$d/out$K"; fail "$name: $K ranks"; }
        grep -q "the same bits on the $K rank(s)" "$d/out$K" || fail "$name: $K ranks' parameters"
    done
    $MPIRUN -np 2 "$BIN" --init-check "$@" --params "$d/p2again" >"$d/again" 2>&1 ||
        { cat "$d/again"; fail "$name: 2 ranks again"; }
    cmp -s "$d/p2" "$d/p2again" || fail "$name: 2 ranks gave other bits on a second run"
    echo "train_ranks.sh: $name: 1, 2, 3 ranks agree; $(grep -h 'gradient vs' "$d/out3" | sed 's/.*: //')"
}

run_case cubic_one_seq --kind cubic --layers 3 --n 24 --batch 1 --steps 3
run_case cubic_batch --kind cubic --layers 2 --n 17 --batch 3 --steps 2
run_case causal --kind causal --layers 2 --n 16 --batch 3 --steps 2

# The planted bugs: each check must catch its own.
d=$TMP/cubic_one_seq
if $MPIRUN -np 2 "$BIN" --init-check --kind cubic --layers 3 --n 24 --batch 1 --steps 3 \
    --plant drop-share --against "$d/g1" >"$TMP/drop" 2>&1; then
    cat "$TMP/drop"; fail "a lost share of the gradient passed"
fi
grep -q "differs from" "$TMP/drop" || { cat "$TMP/drop"; fail "a lost share: no gradient named"; }
if $MPIRUN -np 2 "$BIN" --init-check --kind cubic --layers 3 --n 24 --batch 1 --steps 3 \
    --plant drop-share --params-against "$d/p1" >"$TMP/dropp" 2>&1; then
    cat "$TMP/dropp"; fail "parameters trained on a lost share passed"
fi
if $MPIRUN -np 2 "$BIN" --kind cubic --layers 2 --n 9 --steps 1 --plant drift \
    >"$TMP/drift" 2>&1; then
    cat "$TMP/drift"; fail "ranks holding other parameters passed"
fi
grep -q "DIFFERENT bits" "$TMP/drift" || { cat "$TMP/drift"; fail "drift: not said"; }

# Ranks given other flags: refused before any training, exit 2, the difference named.
rc=0
mpirun --oversubscribe -np 1 "$BIN" --steps 2 : -np 1 "$BIN" --steps 3 >"$TMP/mis" 2>&1 || rc=$?
[ "$rc" = 2 ] || { cat "$TMP/mis"; fail "mismatched ranks: exit $rc, not 2"; }
grep -q "steps: 2 on rank 0, 3 on rank 1" "$TMP/mis" || { cat "$TMP/mis"; fail "mismatch not named"; }
! grep -q "^step " "$TMP/mis" || fail "mismatched ranks trained"
echo "train_ranks.sh: ok (packed cubic in one sequence and across three, and causal: 2 and 3 ranks give the 1-rank gradients and parameters, the same bits on every rank and every run; a lost share, a drifting rank and mismatched flags caught)"
