#!/bin/sh
# layers.sh [ROOT]: the build's check of the layering that layers.mk states. Every
# #include of every .c and .h below ROOT (build folders aside) is resolved by name to the
# one header of the tree it names, and refused, with file, line, header and the rule
# broken, when it
#   - reaches up: the header's folder builds on the including one;
#   - reaches sideways: neither folder builds on the other (two programs);
#   - names a path ("../bench/x.h", "report/x.h") instead of a header: what a folder
#     sees is decided by the -I paths of the layers it builds on, not by a path;
#   - names a header the tree does not hold and the build does not write;
#   - names a source file (.c) of another folder: only a folder's own sources may be
#     included, by a unity build of that folder (model/model_f32.c).
# The tree is refused too when the includes between folders close a circle, when
# layers.mk holds a circle or names a folder it has no line for, when a folder with
# sources has no line there, or when two folders hold a header of one name (an include
# by name must find one file). Prints every problem and exits 1; else one line, exit 0.
set -u
root=${1:-.}
cd "$root" || exit 2
[ -f layers.mk ] || { echo "layers: no layers.mk in $root" >&2; exit 2; }
list=$(mktemp)
trap 'rm -f "$list"' EXIT
find . \( -name .git -o -path './build*' \) -prune -o -type f \( -name '*.c' -o -name '*.h' \) \
  -print | sed 's#^\./##' | LC_ALL=C sort >"$list"
# awk reads layers.mk, then the list of files (every header is known before the first
# include is resolved), then the files themselves. No file name holds a blank.
# shellcheck disable=SC2046
awk -v table=layers.mk -v list="$list" '
function folder_of(p,   d) { d = p; if (!sub(/\/[^\/]*$/, "", d)) d = "."; return d }
function name_of(p,   b) { b = p; sub(/.*\//, "", b); return b }
function problem(msg) { print msg > "/dev/stderr"; bad++ }
function words(s, arr,   n) { sub(/^[^:]*:=[ \t]*/, "", s); sub(/[ \t]*#.*/, "", s); n = split(s, arr, /[ \t]+/); return n }
# reach[a, b]: folder a builds on folder b, directly or through others.
function close_table(   i, j, k, a, b, c, n, u, grew) {
  for (i = 1; i <= nfolders; i++) {
    a = folders[i]
    n = split(uses[a], u, " ")
    for (j = 1; j <= n; j++) {
      if (!(u[j] in known)) problem("layers.mk: uses_" a " names " u[j] ", which has no line uses_" u[j])
      reach[a, u[j]] = 1
    }
  }
  do {
    grew = 0
    for (i = 1; i <= nfolders; i++) for (j = 1; j <= nfolders; j++) {
      a = folders[i]; b = folders[j]
      if (!((a, b) in reach)) continue
      for (k = 1; k <= nfolders; k++) {
        c = folders[k]
        if (((b, c) in reach) && !((a, c) in reach)) { reach[a, c] = 1; grew = 1 }
      }
    }
  } while (grew)
  for (i = 1; i <= nfolders; i++)
    if ((folders[i], folders[i]) in reach) problem("layers.mk: a circle: uses_" folders[i] " leads back to " folders[i] "/")
}
# The include edges from a to b, breadth first, as "a -> x -> b"; the include behind
# each step into why; "" when b cannot be reached.
function path(a, b,   head, tail, queue, from, x, n, i, t, p) {
  head = tail = 1; queue[1] = a; from[a] = ""
  while (head <= tail) {
    x = queue[head++]
    n = split(out[x], t, " ")
    for (i = 1; i <= n; i++) {
      if (t[i] in from) continue
      from[t[i]] = x; queue[++tail] = t[i]
      if (t[i] != b) continue
      p = b; why = ""
      for (x = b; x != a; x = from[x]) { p = from[x] " -> " p; why = "; " edge[from[x], x] why }
      return p
    }
  }
  return ""
}
FILENAME == table {
  if ($0 ~ /^uses_[^ \t:=]+[ \t]*:=/) {
    f = $0; sub(/^uses_/, "", f); sub(/[ \t]*:=.*/, "", f)
    known[f] = 1; folders[++nfolders] = f
    n = words($0, u)
    for (i = 1; i <= n; i++) if (u[i] != "") uses[f] = uses[f] " " u[i]
  } else if ($0 ~ /^layers_generated[ \t]*:=/) {
    n = words($0, u)
    for (i = 1; i <= n; i++) if (u[i] != "") generated[u[i]] = 1
  }
  next
}
FILENAME == list {
  if (FNR == 1) close_table()
  files++
  if ($0 !~ /\.h$/) { source[$0] = 1; next }
  b = name_of($0)
  if (b in header) problem(header[b] " and " $0 ": one header name in two folders (an include by name must find one file)")
  else header[b] = $0
  next
}
FNR == 1 {
  dir = folder_of(FILENAME)
  if (!(dir in known) && !(dir in unlisted)) {
    unlisted[dir] = 1
    problem(FILENAME ": its folder " dir "/ has no line uses_" dir " in layers.mk")
  }
}
/^[ \t]*#[ \t]*include[ \t]*["<]/ {
  s = $0; sub(/^[ \t]*#[ \t]*include[ \t]*/, "", s)
  q = substr(s, 1, 1); e = q == "<" ? ">" : "\""
  name = substr(s, 2); name = substr(name, 1, index(name, e) - 1)
  where = FILENAME ":" FNR ": #include " q name e
  includes++
  if (name ~ /(^|\/)\.\.?\// || (q == "\"" && name ~ /\//)) {
    problem(where ": a path, not a header name: " dir "/ sees the headers of the folders layers.mk has it build on, by name")
    next
  }
  if (name ~ /\.c$/) {
    # a unity build (model/model_f32.c) compiles the sources of its own folder as one unit
    if (q == "\"" && ((dir "/" name) in source)) next
    problem(where ": a source file of another folder than " dir "/: a folder may include the headers of another, never its sources")
    next
  }
  if (!(name in header)) {
    if (q == "\"" && !(name in generated)) problem(where ": no such header in the tree")
    next # a system header, or one the build writes
  }
  to = folder_of(header[name])
  if (to == dir || !(dir in known) || !(to in known)) next
  if (!((dir, to) in edge)) { edge[dir, to] = where; out[dir] = out[dir] " " to }
  if ((dir, to) in reach) next
  if ((to, dir) in reach)
    problem(where " (" header[name] "): upward: " to "/ builds on " dir "/ (layers.mk), so " dir "/ may not include its headers")
  else
    problem(where " (" header[name] "): sideways: " dir "/ and " to "/ do not build on one another (layers.mk), so neither may include the headers of the other; what both need belongs below both")
}
END {
  for (i = 1; i <= nfolders; i++) {
    a = folders[i]
    if (a in circled) continue
    n = split(out[a], t, " ")
    for (j = 1; j <= n; j++) {
      p = path(t[j], a)
      if (p == "") continue
      problem("a circle between folders: " a " -> " p " (" edge[a, t[j]] why ")")
      m = split(p, c, " -> ")
      for (k = 1; k <= m; k++) circled[c[k]] = 1
      break
    }
  }
  if (bad) { print "layers: " bad " problem(s); layers.mk states the layering" > "/dev/stderr"; exit 1 }
  print "layers: ok (" files " files, " includes " includes, " nfolders " folders)"
}' layers.mk "$list" $(cat "$list")
