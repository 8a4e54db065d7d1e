#!/bin/sh
# test-install.sh MAKE [VAR=value...]: the install test run by `make test`. Installs into
# a temp prefix, builds examples/causal_error.c there through pkg-config only (no path
# into the source tree), runs it (its exit status says whether its error is within the
# bound it derives) on the kernel path the library picks and again with CA_ISA=avx2 (the
# baseline path), checks the symbols, the rpath, the static link, DESTDIR and uninstall.
# The temp dir is removed afterwards.
set -u
make=$1
shift
src=$(pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "install test: FAIL: $*" >&2; exit 1; }
# The soname the Makefile states (libcubattn.so.$(SOVERSION)).
soname=libcubattn.so.$(sed -n 's/^SOVERSION *:= *//p' Makefile)
[ "$soname" != libcubattn.so. ] || fail "no SOVERSION in the Makefile"
san=0
for a in "$@"; do [ "$a" = SANITIZE=1 ] && san=1; done
CC=${CC:-cc}
for a in "$@"; do case $a in CC=?*) CC=${a#CC=} ;; esac; done
# Nothing from the environment may point the compiler or loader anywhere else.
unset CPATH C_INCLUDE_PATH LIBRARY_PATH LD_LIBRARY_PATH PKG_CONFIG_LIBDIR
export PKG_CONFIG_PATH="$d/prefix/lib/pkgconfig"

$make --no-print-directory install PREFIX="$d/prefix" "$@" >"$d/install.log" 2>&1 \
  || { tail -20 "$d/install.log" >&2; fail "make install PREFIX=$d/prefix"; }
lib=$d/prefix/lib
for f in include/cubattn.h include/cubattn_harness.h lib/libcubattn.a lib/libcubattn.so \
         lib/pkgconfig/cubattn.pc; do
  [ -e "$d/prefix/$f" ] || fail "$f not installed"
done
[ "$(readlink "$lib/libcubattn.so")" = "$soname" ] || fail "libcubattn.so is not a link to the soname"
objdump -p "$lib/libcubattn.so" | grep -q "SONAME *$soname\$" || fail "no soname $soname"
extra=$(nm -D --defined-only "$lib/libcubattn.so" | awk '$3 !~ /^ca_/ {print $3}' | head -3)
[ -z "$extra" ] || fail "the .so exports more than ca_*: $extra"
# Every function cubattn.h declares (its static inline ones aside) is exported.
for fn in $(sed -n '/^static/d; s/^[a-z][a-z_ ]*[ *]\(ca_[a-z_0-9]*\)(.*/\1/p' include/cubattn.h | sort -u); do
  nm -D --defined-only "$lib/libcubattn.so" | grep -q " $fn\$" || fail "$fn (cubattn.h) not exported"
done
if objdump -p "$lib/libcubattn.so" | grep -q 'NEEDED *libcsv'; then fail "the .so needs libcsv"; fi

cflags=$(pkg-config --cflags cubattn) && libs=$(pkg-config --libs cubattn) \
  || fail "pkg-config --cflags --libs cubattn"
case "$cflags $libs" in *"$src"*) fail "pkg-config flags point into the source tree: $cflags $libs" ;; esac

mkdir "$d/src"
cp examples/causal_error.c "$d/src/"
cd "$d/src" || exit 1
# The example calls sqrt itself, hence its own -lm.
$CC -std=c11 -Wall -Wextra -Werror $cflags causal_error.c $libs -lm -o causal_error \
  2>"$d/cc.log" || { cat "$d/cc.log" >&2; fail "the example does not build against the install"; }
ldd ./causal_error | grep -q "$soname => $lib/$soname" \
  || { ldd ./causal_error >&2; fail "the example does not load the installed .so (rpath)"; }
./causal_error >"$d/out" 2>&1 || { cat "$d/out" >&2; fail "example: error above its bound, or a call failed"; }
cat "$d/out"
grep -Eqiw 'nan|inf' "$d/out" && fail "non-finite error printed"
grep -q ': ok$' "$d/out" || fail "example did not report ok"
# Once more on the baseline kernel path, forced: the installed library holds every path
# and picks one at run time; on an AVX-512 machine this runs the other one.
CA_ISA=avx2 ./causal_error >"$d/out" 2>&1 || { cat "$d/out" >&2; fail "example with CA_ISA=avx2"; }
grep -q 'avx2 kernels: .*: ok$' "$d/out" || { cat "$d/out" >&2; fail "example with CA_ISA=avx2 did not report ok on avx2"; }
cat "$d/out"
./causal_error no_such_impl >"$d/out" 2>&1
[ $? = 2 ] || fail "unknown implementation: exit status is not 2"
grep -q 'known: .*naive' "$d/out" || fail "unknown implementation: known names not listed"

# A program without libm calls links with exactly the pkg-config flags.
printf '#include "cubattn.h"\n#include <stdio.h>\nint main(void) { puts(ca_impl_names()); return !ca_impl_find("naive"); }\n' >names.c
$CC $cflags names.c $libs -o names 2>"$d/cc.log" && ./names >/dev/null \
  || { cat "$d/cc.log" >&2; fail "a program built with exactly the pkg-config flags"; }

if [ $san = 1 ]; then
  echo "install test: static link skipped: AddressSanitizer does not support static executables"
else
  $CC -static $(pkg-config --cflags --static cubattn) causal_error.c \
      $(pkg-config --libs --static cubattn) -o causal_error_static 2>"$d/cc.log" \
    || { cat "$d/cc.log" >&2; fail "static link through pkg-config --static"; }
  ./causal_error_static >/dev/null || fail "the static example"
fi
cd "$src" || exit 1

# DESTDIR: files under DESTDIR, the .pc names the final prefix; uninstall removes them.
$make --no-print-directory install DESTDIR="$d/stage" PREFIX=/opt/cubattn "$@" >"$d/install.log" 2>&1 \
  || { tail -20 "$d/install.log" >&2; fail "make install DESTDIR"; }
grep -qx 'prefix=/opt/cubattn' "$d/stage/opt/cubattn/lib/pkgconfig/cubattn.pc" || fail "DESTDIR leaked into the .pc"
grep -q "$d" "$d/stage/opt/cubattn/lib/pkgconfig/cubattn.pc" && fail "DESTDIR leaked into the .pc"
for p in "DESTDIR=$d/stage PREFIX=/opt/cubattn" "PREFIX=$d/prefix"; do
  # shellcheck disable=SC2086
  $make --no-print-directory uninstall $p "$@" >"$d/install.log" 2>&1 || fail "make uninstall $p"
done
left=$(find "$d/stage" "$d/prefix" ! -type d | head -3)
[ -z "$left" ] || fail "uninstall left: $left"
echo "install test: ok (pkg-config build, rpath, exports ca_* only$([ $san = 1 ] || echo ', static link'), DESTDIR, uninstall)"
