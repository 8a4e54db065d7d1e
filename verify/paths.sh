#!/bin/sh
# paths.sh BUILD OTHER_DIR [verify arguments...]: verify on the kernel path the library
# chooses (the widest this CPU runs, or CA_ISA's), then again on every other path this
# CPU runs, each forced by CA_ISA, so that an AVX-512 machine checks its avx2 path too.
# The other paths run the quick grid (every check, the extreme and non-finite inputs over
# all their seeds): the full grid's extra shapes test sizes and offsets, which the paths
# share as one source, and its costly part, the float64 reference and naive at N = 2049
# and 4097, runs no kernel path at all.
# The first run takes the arguments as given (its --summary is the one the report
# reads); the others write their summaries as OTHER_DIR/verify-<path>.csv instead, as
# the report keeps one row per cell. Exit status: the first failing run's, else 0.
set -u
b=$1
other=$2
shift 2
paths=$("./$b/verify" --kernel-paths) || exit 2
rc=0
"./$b/verify" "$@" || rc=$?
first=1
for p in $paths; do
  if [ $first = 1 ]; then first=0; continue; fi
  # Every argument but --summary FILE, which becomes this path's own file.
  n=$#
  skip=0
  for a in "$@"; do
    if [ $skip = 1 ]; then skip=0
    elif [ "$a" = --summary ]; then skip=1
    else set -- "$@" "$a"
    fi
  done
  shift "$n"
  mkdir -p "$other"
  echo "verify: again on the $p kernel path (CA_ISA=$p)"
  CA_ISA=$p "./$b/verify" "$@" --quick --summary "$other/verify-$p.csv" || { s=$?; [ $rc != 0 ] || rc=$s; }
done
exit $rc
