#!/bin/sh
# test-isa.sh BUILD ISA...: the kernel paths, run by `make test` (ISA...: the Makefile's
# ISAS, narrowest first).
# 1. No object but a wider path's copy (name-<path>.o for a path after the first) holds
#    an AVX-512 instruction, so that the library runs on any AVX2 machine; and the wider
#    copies do hold them (else this check could not tell).
# 2. The path is chosen as documented: the widest the CPU runs; CA_ISA forces one;
#    an unknown or unsupported CA_ISA is refused with exit status 2 and a message.
set -u
b=$1
shift
base=$1
shift
wide="$*"
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
fail() { echo "isa test: FAIL: $*" >&2; exit 1; }

# zmm and mask registers, the upper 16 xmm/ymm registers, and EVEX-only mnemonics.
avx512='%zmm|%k[0-7]|%[xy]mm(1[6-9]|2[0-9]|3[01])\b|\{sae\}|-sae\}|\bvpternlog|\bvmovdq[au](8|16|32|64)\b|\bvperm[ti]2|\bvpmov[dqw][bdw]\b|\bvrndscale|\bvscalef|\bvgetexp|\bvrcp14|\bvrsqrt14|\bvcompress|\bvexpand|\bvfixupimm|\bvpro[lr][dq]'
objs=$(find "$b/obj" "$b/pic" -name '*.o' 2>/dev/null)
[ -n "$objs" ] || fail "no objects under $b"
checked=0
wide_seen=0
for o in $objs; do
  is_wide=0
  for p in $wide; do case $o in *-"$p".o) is_wide=1 ;; esac; done
  n=$(objdump -d --no-show-raw-insn "$o" | grep -cE "$avx512")
  if [ $is_wide = 1 ]; then
    wide_seen=$((wide_seen + 1))
    [ "$n" -gt 0 ] || fail "$o, a wider path's copy, holds no AVX-512 instruction"
  else
    checked=$((checked + 1))
    [ "$n" = 0 ] || { objdump -d --no-show-raw-insn "$o" | grep -E "$avx512" | head -3 >&2;
                      fail "$o holds $n AVX-512 instructions, but is built for the $base baseline"; }
  fi
done
[ -z "$wide" ] || [ $wide_seen -gt 0 ] || fail "no object of the paths $wide under $b"

# What the CPU supports, from the kernel's flags (the library asks cpuid; both must agree).
flags=$(grep -m1 '^flags' /proc/cpuinfo)
has() { case " ${flags#*:} " in *" $1 "*) return 0 ;; esac; return 1; }
want=$base
if has avx512f && has avx512dq && has avx512cd && has avx512bw && has avx512vl; then
  for p in $wide; do [ "$p" = avx512 ] && want=avx512; done
fi
unset CA_ISA
got=$("$b/verify" --kernel-paths | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "the chosen path is '$got', the widest this CPU runs is '$want'"
for p in $base $wide; do
  if CA_ISA=$p "$b/verify" --kernel-paths >"$d/out" 2>"$d/err"; then
    [ "$(cut -d' ' -f1 "$d/out")" = "$p" ] || fail "CA_ISA=$p: the chosen path is $(cat "$d/out")"
  else
    rc=$?
    [ $rc = 2 ] && grep -q "CA_ISA=$p: this CPU lacks" "$d/err" \
      || { cat "$d/err" >&2; fail "CA_ISA=$p refused with status $rc and no clear message"; }
    echo "isa test: CA_ISA=$p refused on this CPU, as it should be: $(cat "$d/err")"
  fi
done
CA_ISA=no_such_path "$b/verify" --kernel-paths >"$d/out" 2>"$d/err"
rc=$?
[ $rc = 2 ] && grep -q "not a kernel path of this build" "$d/err" \
  || { cat "$d/err" >&2; fail "an unknown CA_ISA: status $rc, want 2 and a message"; }
echo "isa test: ok ($checked baseline objects free of AVX-512, $wide_seen wider-path copies;" \
     "chosen here: $want; CA_ISA forces and refuses)"
