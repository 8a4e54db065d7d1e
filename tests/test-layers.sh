#!/bin/sh
# test-layers.sh 'CC FLAGS': (the flags bench/ is compiled with) proves that layers.sh refuses what layers.mk forbids, on
# copies of the tree in a temp dir (the tree itself is not touched). The real tree
# passes; each planted fault fails with a message naming the file, the line, the header
# and the rule broken:
#   - an upward include (lib/passes, which bench builds on, including bench.h);
#   - a sideways include (experiment including the report's header);
#   - a path instead of a name ("../bench/bench.h");
#   - a circle between two folders (lib/csv and lib/host including each other);
#   - a circle in layers.mk itself, and one header name in two folders.
# And the build's include paths refuse the sideways include on their own: bench/plan.c
# including report.h does not compile, for bench/ is given no -Ireport.
set -u
cc=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "layers test: FAIL: $*" >&2; exit 1; }

sh layers.sh >"$d/out" 2>&1 || { cat "$d/out" >&2; fail "the real tree is refused"; }

# A fresh copy of every source, the table and the check into $d/t.
fresh() {
  rm -rf "$d/t" && mkdir "$d/t"
  find . \( -name .git -o -path './build*' \) -prune -o -type f \( -name '*.c' -o -name '*.h' \) -print \
    | tar cf - -T - layers.mk layers.sh | tar xf - -C "$d/t"
}
# plant FILE LINE: LINE becomes line 1 of FILE in the copy.
plant() {
  { echo "$2"; cat "$d/t/$1"; } >"$d/t/$1.new" && mv "$d/t/$1.new" "$d/t/$1"
}
# refused DESCRIPTION MESSAGE: the check fails on the copy, saying MESSAGE.
refused() {
  if sh "$d/t/layers.sh" "$d/t" >"$d/out" 2>"$d/err"; then fail "$1: accepted"; fi
  grep -qF -- "$2" "$d/err" || { cat "$d/err" >&2; fail "$1: the message lacks: $2"; }
}

fresh
sh "$d/t/layers.sh" "$d/t" >"$d/out" 2>&1 || { cat "$d/out" >&2; fail "the copy of the tree is refused"; }

fresh
plant lib/passes/passes.c '#include "bench.h"'
refused "an upward include" \
  'lib/passes/passes.c:1: #include "bench.h" (bench/bench.h): upward: bench/ builds on lib/passes/'

fresh
plant experiment/plan.c '#include "report.h"'
refused "a sideways include" \
  'experiment/plan.c:1: #include "report.h" (report/report.h): sideways: experiment/ and report/ do not build on one another'

fresh
plant experiment/plan.c '#include "../bench/bench.h"'
refused "a path instead of a name" 'experiment/plan.c:1: #include "../bench/bench.h": a path, not a header name'

fresh
plant experiment/plan.c '#include "cell.c"'
refused "a source file of another folder" 'experiment/plan.c:1: #include "cell.c": a source file of another folder than experiment/'

fresh
plant lib/csv/table.c '#include "host.h"'
plant lib/host/host.c '#include "table.h"'
refused "a circle between folders" 'a circle between folders: lib/csv -> lib/host -> lib/csv'
grep -qF 'lib/csv/table.c:1: #include "host.h"' "$d/err" && grep -qF 'lib/host/host.c:1: #include "table.h"' "$d/err" \
  || { cat "$d/err" >&2; fail "the circle's includes are not named"; }

fresh
sed 's#^uses_include *:=.*#uses_include := tests#' layers.mk >"$d/t/layers.mk"
refused "a circle in layers.mk" 'layers.mk: a circle: uses_include leads back to include/'

fresh
cp bench/bench.h "$d/t/report/bench.h"
refused "one header name in two folders" 'bench/bench.h and report/bench.h: one header name in two folders'

# The compiler sees only the layers' headers: bench/ has no -I of report/. The same file
# without the planted include compiles with the same flags.
cp bench/*.h "$d/"
cp bench/plan.c "$d/plan.c"
$cc -fsyntax-only "$d/plan.c" 2>"$d/cc.err" || { cat "$d/cc.err" >&2; fail "bench/plan.c does not compile in the temp dir"; }
{ echo '#include "report.h"'; cat bench/plan.c; } >"$d/plan.c"
if $cc -fsyntax-only "$d/plan.c" 2>"$d/cc.err"; then
  fail "bench/plan.c including report.h compiled with bench's include paths"
fi
grep -q 'report.h: No such file' "$d/cc.err" || { cat "$d/cc.err" >&2; fail "the compile failed for another reason"; }
echo "layers test: ok (the tree passes; upward, sideways, path, another folder's source, circles and a twice-used name refused)"
