#!/bin/sh
# verify_cli.sh BUILD: verify's command line, run by `make test`. Bad arguments and
# unwritable output paths are refused with a message and exit status 2 before any check
# runs (the first check, the reference gradient check, announces itself on stderr); a
# summary that cannot be written at the end is a failed write, not a failed check.
set -u
B=${1:-build}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "verify cli: FAIL: $*" >&2; exit 1; }

# description, expected message (grep pattern), arguments...
refused() {
  desc=$1; pat=$2; shift 2
  timeout 60 "$B/verify" "$@" >"$d/out" 2>"$d/err"
  rc=$?
  [ "$rc" = 2 ] || fail "$desc: exit status $rc, want 2"
  grep -q -- "$pat" "$d/err" || { cat "$d/err" >&2; fail "$desc: no message matching '$pat'"; }
  grep -q "reference gradient check" "$d/err" && fail "$desc: checks ran before the refusal"
  [ -s "$d/out" ] && fail "$desc: wrote to stdout"
  return 0
}

refused "summary in a missing directory" "cannot write the summary" --quick --summary /nonexistent/x.csv
refused "summary in a missing directory (after --impl)" "cannot write the summary" \
  --impl naive --summary "$d/no/such/dir/x.csv"
mkdir "$d/adir"
refused "summary path is a directory" "is a directory" --summary "$d/adir"
refused "empty summary path" "needs a file name" --summary ""
refused "summary without a value" "unknown or incomplete argument" --summary
refused "empty implementation list" "needs at least one implementation name" --impl ""
refused "implementation list of commas" "needs at least one implementation name" --impl ,,
refused "unknown implementation" "known:" --impl no_such_impl
refused "threads 0" "--threads wants" --threads 0
refused "threads not a number" "--threads wants" --threads two
refused "negative seed" "--seed wants" --seed -1
refused "seed not a number" "--seed wants" --seed 1x
refused "seed above 2^64" "--seed wants" --seed 18446744073709551616
refused "unknown flag" "unknown or incomplete argument" --frobnicate
ls "$d" | grep -q '\.tmp' && fail "a refused run left a temp file"

# A summary that cannot be written (a full disk: /dev/full, through a link so that no
# verify ever renames anything over the device) is reported as a failed write, apart
# from the checks' verdict, with exit status 2; one implementation, one seed.
if [ -c /dev/full ]; then
  ln -s /dev/full "$d/full.csv"
  timeout 300 "$B/verify" --quick --impl naive --seeds 1 --summary "$d/full.csv" >"$d/out" 2>"$d/err"
  rc=$?
  [ "$rc" = 2 ] || { tail -n 3 "$d/out" "$d/err" >&2; fail "summary on a full disk: exit status $rc, want 2"; }
  grep -q "verify: cannot write $d/full.csv: No space left on device" "$d/err" \
    || { tail -n 3 "$d/err" >&2; fail "summary on a full disk: no 'cannot write ...: No space left on device'"; }
  grep -q "verify: all checks passed" "$d/out" \
    || { tail -n 3 "$d/out" >&2; fail "summary on a full disk: the failed write changed the checks' verdict"; }
  [ -L "$d/full.csv" ] || fail "summary on a full disk: the link to /dev/full was replaced"
  ls "$d" | grep -q '\.tmp' && fail "summary on a full disk: a temp file was left"
else
  echo "verify cli: no /dev/full here: the full-disk case is not run"
fi

"$B/verify" --help >"$d/out" 2>&1 || fail "--help exit status $?"
grep -q -- "--seed" "$d/out" || fail "--help does not mention --seed"

echo "verify cli: ok"
