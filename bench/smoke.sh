#!/bin/sh
# smoke.sh BUILD THREADS: the bench smoke test run by `make test`. A quick sweep into a
# temp dir, its CSV read back through libcsv by the report, plots and REPORT.md
# produced, and the bad inputs refused without leaving a file. Never asserts a timing.
set -u
B=${1:-build}
T=${2:-2}
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "bench smoke: FAIL: $*" >&2; exit 1; }

mkdir -p "$d/results"
OMP_NUM_THREADS=$T "$B/bench" --quick --threads "$T" --out "$d/results/bench.csv" 2>"$d/bench.log" \
  || { tail -20 "$d/bench.log" >&2; fail "quick sweep exited non-zero"; }
[ -s "$d/results/bench.csv" ] || fail "no CSV written"
ls "$d/results" | grep -q '\.tmp\.' && fail "temp file left beside the CSV"
rows=$(($(wc -l <"$d/results/bench.csv") - 1))
[ "$rows" -gt 0 ] || fail "CSV has no rows"
head -1 "$d/results/bench.csv" | grep -q '"impl","op","pass","n","d","heads","threads","reps","t_min_s","t_median_s","t_max_s","gflops","frac_of_sgemm"' \
  || fail "CSV header lacks the stable columns"
# the machine's own limits and the rows against them (docs/DESIGN.md §5.4): every field is
# quoted, so records split on "," (no field of a bench row holds that sequence). Only
# structure and arithmetic are asserted: how fast a cell ran is never a pass condition.
roof_check=$(awk '
  NR == 1 { gsub(/^"|"$/, ""); n = split($0, h, /","/); for (i = 1; i <= n; i++) c[h[i]] = i; next }
  {
    gsub(/^"|"$/, ""); split($0, f, /","/)
    if (!("peak_gflops" in c) || !("frac_of_peak" in c) || !("ukr_gflops" in c) ||
        !("bw_gbs" in c) || !("gbs" in c) || !("frac_of_bw" in c) || !("cache_state" in c) ||
        !("bytes_moved" in c)) { print "missing roofline columns"; bad = 1; exit }
    pk = f[c["peak_gflops"]] + 0; uk = f[c["ukr_gflops"]] + 0; bw = f[c["bw_gbs"]] + 0
    if (!(pk > 0) || !(uk > 0) || !(bw > 0)) { print "row " NR ": a ceiling is not positive"; bad = 1; exit }
    if (!(f[c["bytes_moved"]] + 0 > 0)) { print "row " NR ": bytes_moved not positive"; bad = 1; exit }
    st = (f[c["op"]] == "decode") ? "cold" : "warm"
    if (f[c["cache_state"]] != st) { print "row " NR ": cache_state " f[c["cache_state"]] " for " f[c["op"]]; bad = 1; exit }
    if (f[c["status"]] != "ok") next
    fp = f[c["frac_of_peak"]] + 0; g = f[c["gbs"]] + 0; fb = f[c["frac_of_bw"]] + 0
    if (!(fp > 0) || !(g > 0) || !(fb > 0)) { print "row " NR ": frac_of_peak, gbs or frac_of_bw not positive"; bad = 1; exit }
    d = f[c["gflops"]] / pk - fp; if (d < 0) d = -d
    if (d > 1e-3 + 1e-3 * fp) { print "row " NR ": frac_of_peak is not gflops / peak_gflops"; bad = 1; exit }
    ok++
  }
  END { if (!ok && !bad) print "no timed row to check" }' "$d/results/bench.csv")
[ -z "$roof_check" ] || fail "roofline columns: $roof_check"
grep -q "bench: FMA peak measured" "$d/bench.log" || fail "the FMA peak's sanity check is not printed"
# the model cells (bench --model --quick): every planned cell written, each timed or with
# its reason, the train cells' per-layer rows, FLOPs split attention / products
OMP_NUM_THREADS=$T "$B/bench" --model --quick --threads "$T" --out "$d/results/bench_model.csv" \
  2>"$d/model.log" || { tail -20 "$d/model.log" >&2; fail "bench --model --quick exited non-zero"; }
model_check=$(awk '
  NR == 1 { gsub(/^"|"$/, ""); n = split($0, h, /","/); for (i = 1; i <= n; i++) c[h[i]] = i; next }
  {
    gsub(/^"|"$/, ""); split($0, f, /","/); rows++
    st = f[c["status"]]; part = f[c["part"]]
    if (st != "ok" && st !~ /^skipped: ./) { print "row " NR ": status " st; bad = 1; exit }
    if (part == "all") {
      cells[f[c["model"]] " " f[c["task"]]]++
      if (st == "ok" && !(f[c["t_median_s"]] > 0 && f[c["attn_flops"]] > 0 && f[c["matmul_flops"]] > 0)) {
        print "row " NR ": an ok cell without time or FLOPs"; bad = 1; exit }
      if (st == "ok" && f[c["task"]] == "train") trained[f[c["model"]] " " f[c["n"]]] = f[c["layers"]]
    } else if (part ~ /^layer[0-9]+$/) layers[f[c["model"]] " " f[c["n"]]]++
    else { print "row " NR ": part " part; bad = 1; exit }
  }
  END {
    if (bad) exit
    split("causal train,cubic train,cubic_loop train,causal prefill,cubic prefill,causal step,cubic step,causal generate,cubic generate", want, ",")
    for (i in want) if (!(want[i] in cells)) { print "no " want[i] " cell"; exit }
    for (k in trained) if (layers[k] != trained[k]) { print k ": " layers[k] " layer rows for " trained[k] " layers"; exit }
  }' "$d/results/bench_model.csv")
[ -z "$model_check" ] || fail "model cells: $model_check"
# prefix-parallel training across 2 ranks (bench --model --scaling --quick under mpirun,
# docs/DESIGN.md §8.2): the configurations 1 x 1, 2 x 1 and 1 x 2, each timed or skipped
# with its reason; the 2-rank row sent the bytes of the ordered sum (2 (K - 1) x (4 P + 8));
# the partition rows of 1..1024 ranks; the report's section reads them back (below)
OMP_NUM_THREADS=1 mpirun -np 2 --oversubscribe --bind-to none "$B/bench" --model --scaling \
  --quick --out "$d/results/bench_scaling.csv" 2>"$d/scaling.log" \
  || { tail -20 "$d/scaling.log" >&2; fail "bench --model --scaling under mpirun exited non-zero"; }
scaling_check=$(awk '
  NR == 1 { gsub(/^"|"$/, ""); n = split($0, h, /","/); for (i = 1; i <= n; i++) c[h[i]] = i; next }
  { gsub(/^"|"$/, ""); split($0, f, /","/)
    kind = f[c["kind"]]; st = f[c["status"]]
    if (kind == "partition") { parts++; if (!(f[c["imbalance"]] >= 1)) { print "row " NR ": imbalance below 1"; exit } ; next }
    conf[f[c["ranks"]] "x" f[c["threads"]]] = 1
    if (st != "ok" && st !~ /^skipped: /) { print "row " NR ": status " st; exit }
    if (st == "ok" && f[c["ranks"]] == 2 && f[c["comm_bytes"]] != 2 * (4 * f[c["params"]] + 8)) {
      print "row " NR ": comm_bytes " f[c["comm_bytes"]] " is not 2 (4 P + 8)"; exit }
    if (st == "ok" && !(f[c["flops"]] > 0 && f[c["t_median_s"]] > 0)) { print "row " NR ": no flops or time"; exit }
  }
  END { if (!conf["1x1"] || !conf["2x1"] || !conf["1x2"]) print "a configuration is missing"
        else if (parts != 11) print parts " partition rows, expected 11 (1..1024 ranks)" }' \
  "$d/results/bench_scaling.csv")
[ -z "$scaling_check" ] || fail "scaling rows: $scaling_check"
# the split of a fused kernel's time (bench --split, docs/DESIGN.md §5.6): every part
# present and >= 0 (t_other_s within the profile's tolerance, report/split.c), the
# parts adding up to the total within the CSV's rounding, the products counted; the file
# sits in the results dir, so the report below must read it back
OMP_NUM_THREADS=$T "$B/bench" --split --quick --op causal,full --pass fwd,bwd --n 128 --threads "$T" \
  --out "$d/results/split.csv" 2>"$d/split.log" || { tail -20 "$d/split.log" >&2; fail "bench --split exited non-zero"; }
split_check=$(awk '
  NR == 1 { gsub(/^"|"$/, ""); n = split($0, h, /","/); for (i = 1; i <= n; i++) c[h[i]] = i; next }
  {
    gsub(/^"|"$/, ""); split($0, f, /","/); rows++
    if (f[c["status"]] != "ok") { print "row " NR ": status " f[c["status"]]; exit }
    T = f[c["t_total_s"]]; p = f[c["t_products_s"]]; k = f[c["t_packing_s"]]; o = f[c["t_other_s"]]
    u = f[c["t_outside_s"]]
    if (!(T > 0) || !(p > 0) || !(k >= 0) || !(o >= -(1e-5 * T + 1e-7)) || !(u >= -(1e-5 * T + 1e-7))) {
      print "row " NR ": a part is missing or negative"; exit }
    s = p + k + o - T; if (s < 0) s = -s
    if (s > 1e-5 * T) { print "row " NR ": the parts do not add up to t_total_s"; exit }
    if (!(f[c["product_calls"]] > 0) || !(f[c["peak_gflops"]] > 0)) { print "row " NR ": no products or no peak"; exit }
  }
  END { if (rows != 4) print rows " rows, expected 4" }' "$d/results/split.csv")
[ -z "$split_check" ] || fail "split: $split_check"
# a verification summary of the quick grid, as `verify --quick --summary` writes it
{
  echo '"impl","entry","check","status","err","tol","note","grid"'
  echo '"run","-","config","-","","","threads=2; seed=0","quick"'
  echo '"naive","causal_fwd","vs_ref","PASS","1e-07","2e-06","27 shapes","quick"'
  echo '"blocked","causal_fwd","vs_ref","PASS","1e-07","2e-06","27 shapes","quick"'
  echo '"model64","model_causal","vs_f64","PASS","1e-07","2e-06","","quick"'
} >"$d/results/verify.csv"
"$B/report" --results "$d/results" --plots "$d/plots" --out "$d/REPORT.md" 2>"$d/report.log" \
  || { cat "$d/report.log" >&2; fail "report could not read the CSV back"; }
[ -s "$d/REPORT.md" ] || fail "no REPORT.md"
ls "$d/plots"/time_*.png >/dev/null 2>&1 || fail "no time-vs-N plot"
ls "$d/plots"/gflops_*.png >/dev/null 2>&1 || fail "no GFLOP/s plot"
ls "$d/plots"/roofline_*.png >/dev/null 2>&1 || fail "no roofline plot"
ls "$d/plots"/headline_L*.png >/dev/null 2>&1 || fail "no headline chart"
grep -q "^| FMA peak, $T thread" "$d/REPORT.md" || fail "REPORT.md lacks the FMA peak"
for s in "## The answer in numbers" "## Model level" "## Prefix-parallel training across ranks" "## Is a cubic model more powerful?" "## Machine" "## Scaling exponents" "## Performance targets" \
         "## Roofline targets" "## Verification" "## Plots"; do
  grep -q "^$s" "$d/REPORT.md" || fail "REPORT.md lacks '$s'"
done
# every section built from bench or verify rows says, under its heading, which files,
# which grid and which implementations they come from: here the quick grid, said so (the
# model sections, of one implementation, name it and their shape in their first line)
provenance=$(awk '
  /^## / { heading = $0; want = heading !~ /^## (Model level|Prefix-parallel|Is a cubic model|Plots)/; next }
  want && /^_Rows from / { rows[heading] = $0; want = 0; next }
  want && NF { missing = missing " [" heading "]"; want = 0 }
  END {
    for (h in rows) {
      q = h ~ /Verification/ ? "verify.csv, the quick grid \\(N in" : "bench.csv, the quick grid \\(cells of seconds"
      if (rows[h] !~ q || rows[h] !~ /implementations: .*naive/) print "[" h "]: " rows[h]
    }
    if (missing != "") print "no provenance line under" missing
    if (length(rows) < 10) print length(rows) " sections with a provenance line, want 10"
  }' "$d/REPORT.md")
[ -z "$provenance" ] || fail "REPORT.md of a quick sweep: $provenance"

# bad input: a clear message, non-zero exit, no file left
expect_fail() { # description, command...
  desc=$1; shift
  if "$@" >"$d/out.log" 2>"$d/err.log"; then fail "$desc: exit status 0"; fi
  [ -s "$d/err.log" ] || fail "$desc: no message"
}
expect_fail "unknown impl" "$B/bench" --impl no_such_impl --out "$d/x.csv"
grep -q "known:" "$d/err.log" || fail "unknown impl: known implementations not listed"
expect_fail "unknown op" "$B/bench" --op quadratic --out "$d/x.csv"
expect_fail "bad flag" "$B/bench" --frobnicate
expect_fail "split of an implementation without the tile engine" "$B/bench" --split --quick --impl naive \
  --op causal --pass fwd --n 64 --out "$d/x.csv"
grep -q "no product call was profiled" "$d/err.log" || fail "split of naive: reason not given"
expect_fail "N out of range" "$B/bench" --n 0 --out "$d/x.csv"
expect_fail "d out of range" "$B/bench" --d -3 --out "$d/x.csv"
expect_fail "unwritable path" "$B/bench" --quick --op decode --out "$d/no/such/dir/x.csv"
[ -e "$d/x.csv" ] && fail "a bad run left a results file"
# a run that times no cell fails and leaves the evidence it would have replaced intact
cp "$d/results/bench.csv" "$d/keep.csv"
expect_fail "every cell skipped" "$B/bench" --quick --op causal --mem 1K --out "$d/results/bench.csv"
grep -q "no cell was timed" "$d/err.log" || fail "every cell skipped: reason not given"
expect_fail "no cell planned" "$B/bench" --op decode --pass fwd --out "$d/results/bench.csv"
grep -q "no cell to run" "$d/err.log" || fail "no cell planned: reason not given"
cmp -s "$d/keep.csv" "$d/results/bench.csv" || fail "a run that timed nothing changed the CSV"
# a caught signal removes the temp file (SIGKILL cannot be caught: .gitignore covers it).
# INT is not among them: a non-interactive shell starts background jobs with it ignored,
# and an ignored signal stays ignored (the same code path as TERM handles it).
for sig in HUP TERM; do
  OMP_NUM_THREADS=$T "$B/bench" --quick --op cubic --out "$d/sig.csv" 2>/dev/null &
  pid=$!
  tries=0
  until ls "$d" | grep -q 'sig\.csv\.tmp\.'; do
    tries=$((tries + 1))
    [ "$tries" -gt 100 ] && { kill "$pid"; fail "SIG$sig: the run never opened its temp file"; }
    sleep 0.1
  done
  kill -s "$sig" "$pid"
  wait "$pid" 2>/dev/null
  ls "$d" | grep -q 'sig\.csv' && fail "SIG$sig left $(ls "$d" | grep 'sig\.csv')"
done
mkdir -p "$d/bad"
printf '"impl","op","pass","n","d","heads","threads","t_median_s","status"\n"naive","causal","fwd","64"\n' >"$d/bad/short.csv"
expect_fail "CSV with a short record" "$B/report" --results "$d/bad" --plots "$d/bp" --out "$d/bad.md"
printf '"impl","op","pass","n","d","heads","threads","t_median_s","status"\n"naive","causal","fwd","64","64","2","1","1e-3","ok\n' >"$d/bad/short.csv"
expect_fail "CSV with an open quote" "$B/report" --results "$d/bad" --plots "$d/bp" --out "$d/bad.md"
[ -e "$d/bad.md" ] && fail "a failed report left REPORT.md"
# the report's fit recovers known exponents from a synthetic CSV (quoted fields with
# commas and doubled quotes must survive libcsv)
mkdir -p "$d/syn"
{
  echo '"impl","op","pass","n","d","heads","threads","reps","t_median_s","gflops","frac_of_sgemm","status","sgemm_gflops","cpu","date","grid"'
  for n in 64 128 256 512 1024; do
    echo "\"naive\",\"causal\",\"fwd\",\"$n\",\"64\",\"2\",\"2\",\"3\",\"$(awk "BEGIN{printf \"%.6e\", 1e-9*$n*$n}")\",\"1\",\"0.1\",\"ok\",\"10\",\"a \"\"cpu\"\", with comma\",\"2026-01-01T00:00:00Z\",\"full\""
    echo "\"naive\",\"cubic\",\"fwd\",\"$n\",\"64\",\"2\",\"2\",\"3\",\"$(awk "BEGIN{printf \"%.6e\", 1e-11*$n*$n*$n}")\",\"1\",\"0.1\",\"ok\",\"10\",\"a \"\"cpu\"\", with comma\",\"2026-01-01T00:00:00Z\",\"full\""
  done
} >"$d/syn/bench.csv"
"$B/report" --results "$d/syn" --plots "$d/synp" --out "$d/syn.md" 2>"$d/err.log" \
  || { cat "$d/err.log" >&2; fail "report on a synthetic CSV"; }
grep -q '^| naive | 2.00 (1.000) |' "$d/syn.md" || fail "fit of t = N^2 is not 2.00"
grep -q '| 3.00 (1.000) |' "$d/syn.md" || fail "fit of t = N^3 is not 3.00"
grep -q 'a "cpu", with comma' "$d/syn.md" || fail "quoted CSV field not read back intact"
grep -q 'No verification run recorded' "$d/syn.md" || fail "missing verify.csv not reported"
grep -q '^_Rows from bench.csv, the full grid; implementations: naive._$' "$d/syn.md" \
  || fail "the synthetic full-grid rows are not said to come from the full grid"

# Damaged evidence: each planted value makes the report fail, naming file, record and
# column, and leaves the plots and REPORT.md of the good run byte for byte as they were
# (plots are drawn into a staging dir, moved in only when all succeeded).
evidence_hash() { (cd "$d" && find plots REPORT.md -type f | sort | xargs md5sum) ; }
before=$(evidence_hash)
col_of() { head -1 "$2" | tr ',' '\n' | grep -n "^\"$1\"\$" | cut -d: -f1; }
# plant FILE COLUMN VALUE: the first data record's COLUMN set to VALUE, into $d/dmg/
# (by position: only for columns before the first field that may hold a comma)
plant() {
  rm -rf "$d/dmg" && cp -r "$d/results" "$d/dmg"
  c=$(col_of "$2" "$d/results/$1")
  [ -n "$c" ] || fail "no column $2 in $1"
  awk -F, -v c="$c" -v v="\"$3\"" 'BEGIN { OFS = "," } NR == 2 { $c = v } { print }' \
    "$d/results/$1" >"$d/dmg/$1"
}
damaged() { # description, expected message
  expect_fail "$1" "$B/report" --results "$d/dmg" --plots "$d/plots" --out "$d/REPORT.md"
  grep -q "$2" "$d/err.log" || { cat "$d/err.log"; fail "$1: the message lacks '$2'"; }
  [ "$(evidence_hash)" = "$before" ] || fail "$1: plots or REPORT.md changed"
  ls "$d" | grep -q 'plots\.stage\|REPORT\.md\.staged' && fail "$1: staging left behind"
}
plant bench.csv t_median_s inf;  damaged "an infinite time" "record 2: column 't_median_s'"
plant bench.csv gflops 1e400;    damaged "an overflowing rate" "record 2: column 'gflops'"
plant bench.csv t_median_s -1;   damaged "a negative time" "column 't_median_s' must be > 0"
plant bench.csv t_median_s 0;    damaged "a zero time" "column 't_median_s' must be > 0"
plant bench.csv impl "";         damaged "an empty implementation name" "column 'impl' is empty"
plant bench.csv op quadratic;    damaged "an unknown operator" "operator 'quadratic'"
plant split.csv t_other_s -1;    damaged "a negative part of a split" "column 't_other_s' must be >= 0"
# the cpu column lies after fields with commas: replaced by value, not by position
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
rm -rf "$d/dmg" && cp -r "$d/results" "$d/dmg"
sed "2s/\"$cpu\"/\"Other CPU\"/" "$d/results/bench.csv" >"$d/dmg/bench.csv"
grep -q '"Other CPU"' "$d/dmg/bench.csv" || fail "could not plant another CPU"
damaged "rows from two machines" "results from two machines"
plant verify.csv status MAYBE;   damaged "a verify status MAYBE" "column 'status' is not PASS"
# the grid every row records: a value other than full or quick, one record of the other
# grid among the quick sweep's (the last field of a record), or no grid column at all
plant verify.csv grid partial;   damaged "a verify grid 'partial'" "column 'grid' is not full or quick"
rm -rf "$d/dmg" && cp -r "$d/results" "$d/dmg"
sed '3s/,"quick"$/,"full"/' "$d/results/bench.csv" >"$d/dmg/bench.csv"
grep -q ',"full"$' "$d/dmg/bench.csv" || fail "could not plant a row of the full grid"
damaged "bench rows from two grids" "bench results mix two grids: .*bench.csv holds rows of the quick grid"
rm -rf "$d/dmg" && cp -r "$d/results" "$d/dmg"
sed 's/,"[^"]*"$//' "$d/results/bench.csv" >"$d/dmg/bench.csv"
damaged "a bench CSV without its grid column" "lack the column 'grid' (results of an older bench"
rm -rf "$d/dmg" && cp -r "$d/results" "$d/dmg"
c=$(col_of status "$d/results/bench.csv")
cut -d, -f"$c" --complement "$d/results/bench.csv" >"$d/dmg/bench.csv"
damaged "a bench CSV without its status column" "lack the column 'status'"

# a colour belongs to an implementation's name: a results dir with one more
# implementation (rows of naive renamed 'aaa_new', sorting first) draws blocked and omp in
# the colours they had
colour_of() { grep -o "lc rgb '#[0-9a-f]*' title '$1[:' ]" "$2" | head -1 | cut -d"'" -f2; }
gp=$d/plots/gnuplot/time_causal_fwd_t$T.gp
rm -rf "$d/col" && cp -r "$d/results" "$d/col"
grep '^"naive","causal","fwd"' "$d/results/bench.csv" | sed 's/^"naive"/"aaa_new"/' >>"$d/col/bench.csv"
"$B/report" --results "$d/col" --plots "$d/colp" --out "$d/col.md" 2>"$d/err.log" || { cat "$d/err.log"; fail "report with one more implementation"; }
grep -q "title 'aaa_new" "$d/colp/gnuplot/time_causal_fwd_t$T.gp" || fail "the added implementation is not drawn"
for i in blocked omp; do
  a=$(colour_of $i "$gp"); b=$(colour_of $i "$d/colp/gnuplot/time_causal_fwd_t$T.gp")
  [ -n "$a" ] && [ "$a" = "$b" ] || fail "$i changed colour ('$a' -> '$b') when an implementation was added"
done

# the roofline says why cubic_shared may stand above the roof. On a loaded machine (or
# under the sanitizers) the quick sweep's time cap can skip every cubic_shared cell, the
# per-prefix operators running last: then one cubic_shared cell is timed on its own.
roof=$d/plots/gnuplot/roofline_t$T.gp
if ! grep -q '^"[^"]*","cubic_shared","fwd",.*,"ok",' "$d/results/bench.csv"; then
  mkdir -p "$d/cs"
  OMP_NUM_THREADS=$T "$B/bench" --quick --impl omp --op cubic_shared --pass fwd --n 64 \
    --threads "$T" --out "$d/cs/bench.csv" 2>"$d/cs.log" || { tail -5 "$d/cs.log" >&2; fail "one cubic_shared cell"; }
  "$B/report" --results "$d/cs" --plots "$d/csp" --out "$d/cs.md" 2>"$d/err.log" || { cat "$d/err.log" >&2; fail "report on one cubic_shared cell"; }
  roof=$d/csp/gnuplot/roofline_t$T.gp
fi
grep -q "cubic_shared counts the per-prefix work" "$roof" \
  || fail "the roofline has no note on cubic_shared's FLOP count"

# a disturbed run's caution opens the report, before any number it casts doubt on
mkdir -p "$d/busy"
{
  echo '"impl","op","pass","n","d","heads","threads","t_median_s","status","other_cores","grid"'
  for n in 64 128 256; do
    echo "\"naive\",\"causal\",\"fwd\",\"$n\",\"64\",\"2\",\"2\",\"1e-3\",\"ok\",\"1.5\",\"full\""
  done
} >"$d/busy/bench.csv"
"$B/report" --results "$d/busy" --plots "$d/busyp" --out "$d/busy.md" 2>"$d/err.log" || { cat "$d/err.log"; fail "report on a disturbed run"; }
caution=$(grep -n 'Caution: these timings look disturbed' "$d/busy.md" | head -1 | cut -d: -f1)
first=$(grep -n '^## ' "$d/busy.md" | head -1 | cut -d: -f1)
[ -n "$caution" ] && [ "$caution" -lt "$first" ] || fail "the disturbed run's caution does not open the report"

# a cell above the FMA peak of its run is a sign of a disturbed run; a fused kernel above
# BLIS's sgemm but below the peak is not
for case in over:1.3:0.9 fast:0.8:1.2; do
  name=${case%%:*}; rest=${case#*:}; peak=${rest%%:*}; sgemm=${rest#*:}
  mkdir -p "$d/$name"
  {
    echo '"impl","op","pass","n","d","heads","threads","t_median_s","status","other_cores","frac_of_sgemm","frac_of_peak","grid"'
    echo "\"omp\",\"causal\",\"bwd\",\"4096\",\"64\",\"4\",\"2\",\"6e-2\",\"ok\",\"0\",\"$sgemm\",\"$peak\",\"full\""
  } >"$d/$name/bench.csv"
  "$B/report" --results "$d/$name" --plots "$d/${name}p" --out "$d/$name.md" 2>"$d/err.log" || { cat "$d/err.log"; fail "report on the $name cell"; }
done
grep -q 'Caution: these timings look disturbed.* exceed the FMA peak' "$d/over.md" \
  || fail "a cell above the FMA peak brings no caution"
grep -q 'Caution' "$d/fast.md" && fail "a cell above sgemm but below the FMA peak is called disturbed"

# a report whose folder cannot be written is refused before any plot is drawn
expect_fail "report into a missing folder" "$B/report" --results "$d/results" --plots "$d/p2" --out "$d/no/such/R.md"
grep -q "cannot write '$d/no/such/R.md'" "$d/err.log" || fail "report into a missing folder: no message"
[ -e "$d/p2" ] || [ -e "$d/p2.stage" ] && fail "report into a missing folder drew plots first"

# make bench's final move (bench/stage.sh): a move that fails keeps the staged CSVs where
# they are and says so, leaves results/ as it was, and the next run refuses to start
# rather than delete them; once the obstacle is gone the move completes.
st=$d/stage/bench-stage r=$d/stage/results
mkdir -p "$st" "$r/bench_t1.csv"
echo old >"$r/bench.csv" && echo new >"$st/bench.csv" && echo new >"$st/bench_t1.csv"
: >"$r/bench_t1.csv/blocks-the-rename"
sh bench/stage.sh commit "$st" "$r" bench.csv bench_t1.csv 2>"$d/stage.log"
[ $? = 1 ] || fail "a failed final move exited 0"
grep -q "kept in $st/ (bench.csv bench_t1.csv)" "$d/stage.log" || { cat "$d/stage.log" >&2; fail "a failed final move does not say where the CSVs are kept"; }
[ "$(cat "$r/bench.csv")" = old ] || fail "a failed final move changed results/"
[ "$(cat "$st/bench.csv")" = new ] && [ -f "$st/bench_t1.csv" ] || fail "a failed final move lost a staged CSV"
ls -A "$r" | grep -q incoming && fail "a failed final move left a temporary name in results/"
sh bench/stage.sh start "$st" "$r" 2>"$d/stage.log"
[ $? = 1 ] || fail "the next run started over the kept CSVs"
grep -q "earlier complete run.*(bench.csv bench_t1.csv)" "$d/stage.log" || { cat "$d/stage.log" >&2; fail "the next run does not name the kept CSVs"; }
grep -q "move into $r/ failed" "$d/stage.log" || { cat "$d/stage.log" >&2; fail "the next run does not name the folder the kept CSVs belong in"; }
[ "$(cat "$st/bench.csv")" = new ] || fail "the next run deleted the kept CSVs"
rm -r "$r/bench_t1.csv"
sh bench/stage.sh commit "$st" "$r" bench.csv bench_t1.csv 2>"$d/stage.log" || { cat "$d/stage.log" >&2; fail "the move failed with nothing in its way"; }
[ "$(cat "$r/bench.csv")" = new ] && [ "$(cat "$r/bench_t1.csv")" = new ] && [ ! -e "$st" ] \
  || fail "the move did not put the new CSVs in place and empty the stage"
mkdir -p "$st" && echo partial >"$st/bench.csv"
sh bench/stage.sh start "$st" "$r" 2>"$d/stage.log" || fail "an interrupted run's stage blocked the next run"
grep -q "removing what an interrupted run left" "$d/stage.log" || fail "an interrupted run's CSVs were removed without a word"
[ -d "$st" ] && [ -z "$(ls -A "$st")" ] || fail "start did not leave an empty stage"
# Kept CSVs moved by hand, as the message says: the next run starts.
echo "$r" >"$st/complete" && echo kept >"$st/bench.csv" && mv "$st/bench.csv" "$r/"
sh bench/stage.sh start "$st" "$r" 2>"$d/stage.log" || { cat "$d/stage.log" >&2; fail "a stage emptied by hand still blocked the next run"; }

# More threads than online cores is refused before anything runs or is written: threads
# sharing cores time the scheduler, not the kernels.
CORES=$(getconf _NPROCESSORS_ONLN)
"$B/bench" --quick --threads $((CORES + 1)) --out "$d/over.csv" 2>"$d/over.log"
[ $? = 2 ] || fail "--threads $((CORES + 1)) on $CORES cores was not refused (exit 2)"
grep -q "more than the $CORES online cores" "$d/over.log" || { cat "$d/over.log" >&2; fail "no message giving the core count"; }
ls "$d" | grep -q '^over\.csv' && fail "a file was written for a refused --threads"

# A split cell whose buffers pass --mem is skipped with a message, as in the sweep, not
# run into the out-of-memory killer (cubic fwd at N = 4096 needs 34.5 GB).
"$B/bench" --split --impl omp --op cubic --pass fwd --n 4096 --threads 1 --mem 1G \
  --out "$d/split_mem.csv" >"$d/split_mem.log" 2>&1
grep -q "skipped: memory .* over budget" "$d/split_mem.log" || { cat "$d/split_mem.log" >&2; fail "bench --split ran a cell over --mem"; }

echo "bench smoke: ok ($rows rows, $(ls "$d/plots"/*.png | wc -l) plots; damaged evidence refused, plots and report untouched)"
