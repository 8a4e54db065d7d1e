#!/bin/sh
# test-check-impls.sh 'CC FLAGS': proves the build rejects a file in impls/ that breaks
# the naming contract (lib/frame/check-impls.sh), on files written to a temp dir (nothing is
# added to impls/): each bad file must fail with a message naming it; the good ones and
# the real impls/*.c must pass; and `make` on a temp copy of the build inputs with one
# bad file added must stop before the registry is generated, with the same message.
set -u
cpp=$1
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "check-impls test: FAIL: $*" >&2; exit 1; }
mkdir -p "$d/impls"

impl() { # file, body: an implementation file around the given descriptor text
  printf '#include "cubattn.h"\n%s\n' "$2" >"$d/impls/$1"
}
impl good.c 'const ca_impl ca_impl_good = {.name = "good", .description = "ok; {x}"};'
impl spread.c '/* const ca_impl ca_impl_spread = {.name = "x"}; */
const ca_impl
    ca_impl_spread =
{
    .description = "name below",
    .name =
        "spread",
};'
impl wrong_symbol.c 'const ca_impl ca_impl_other = {.name = "wrong_symbol"};'
impl wrong_name.c 'const ca_impl ca_impl_wrong_name = {.name = "naive"};'
impl no_name.c 'const ca_impl ca_impl_no_name = {.description = "forgot the name"};'
impl static_desc.c 'static const ca_impl ca_impl_static_desc = {.name = "static_desc"};'
impl in_comment.c '/* const ca_impl ca_impl_in_comment = {.name = "in_comment"}; */'
impl if0.c '#if 0
const ca_impl ca_impl_if0 = {.name = "if0"};
#endif'
impl bad-name.c 'const ca_impl ca_impl_bad = {.name = "bad-name"};'

for f in good.c spread.c; do
  sh lib/frame/check-impls.sh "$cpp" "$d/impls/$f" 2>"$d/err" || { cat "$d/err" >&2; fail "$f rejected"; }
done
for f in wrong_symbol.c wrong_name.c no_name.c static_desc.c in_comment.c if0.c bad-name.c; do
  if sh lib/frame/check-impls.sh "$cpp" "$d/impls/$f" 2>"$d/err"; then fail "$f accepted"; fi
  grep -q "impls/$f: .*must define: const ca_impl ca_impl_" "$d/err" \
    || { cat "$d/err" >&2; fail "$f: message does not name the file and the contract"; }
done
sh lib/frame/check-impls.sh "$cpp" "$d/impls/wrong_symbol.c" 2>"$d/err"
grep -q 'it defines ca_impl_other' "$d/err" || fail "wrong_symbol.c: what it defines is not named"
sh lib/frame/check-impls.sh "$cpp" impls/*.c || fail "the real impls/*.c rejected"

# Through make: a copy of the build inputs plus one bad file.
mkdir -p "$d/tree"
cp -R Makefile layers.mk include lib impls verify "$d/tree/"
cp "$d/impls/wrong_name.c" "$d/tree/impls/"
if MAKEFLAGS= make -C "$d/tree" --no-print-directory SANITIZE=0 build/registry_list.h >"$d/make.log" 2>&1; then
  fail "make generated the registry with impls/wrong_name.c present"
fi
grep -q 'impls/wrong_name.c: ca_impl_wrong_name has .name = "naive", not .name = "wrong_name"' \
  "$d/make.log" || { cat "$d/make.log" >&2; fail "make failed without the check's message"; }
[ -e "$d/tree/build/registry_list.h" ] && fail "a registry was generated despite the error"
echo "check-impls test: ok (2 good, 7 bad files, make stops on a bad one)"
