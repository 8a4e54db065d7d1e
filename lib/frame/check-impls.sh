#!/bin/sh
# check-impls.sh 'CC FLAGS' impls/NAME.c...: the build's check of the implementation
# contract (include/cubattn.h). The registry is generated from the file names, so
# impls/NAME.c must define, outside any comment or #if 0,
#     const ca_impl ca_impl_NAME = { .name = "NAME", ... };
# (not static, NAME a C identifier). Each file is read after the preprocessor, with the
# build's own flags, so comments, disabled code and line breaks cannot fool the check.
# Prints one message per offending file and exits 1; silent when all files conform.
set -u
cpp=$1
shift
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.err"' EXIT
bad=0
for f in "$@"; do
  name=$(basename "$f" .c)
  want="const ca_impl ca_impl_$name = { .name = \"$name\", ... };"
  complain() { echo "$f: $1; every impls/<name>.c must define: $want" >&2; bad=1; }
  if ! printf '%s\n' "$name" | grep -Eqx '[A-Za-z_][A-Za-z0-9_]*'; then
    complain "the file name '$name' is not a C identifier (letters, digits, _)"
    continue
  fi
  # The preprocessed file on one line, runs of white space squeezed to one blank.
  if ! $cpp -E -P "$f" >"$tmp" 2>"$tmp.err"; then
    head -5 "$tmp.err" >&2
    complain "it does not preprocess"
    continue
  fi
  tr -s '[:space:]' ' ' <"$tmp" >"$tmp.1" && mv "$tmp.1" "$tmp"
  id='(^|[^A-Za-z0-9_])'
  if grep -Eq "${id}static const ca_impl ca_impl_$name ?=" "$tmp"; then
    complain "ca_impl_$name is static, so the registry cannot link it"
    continue
  fi
  if ! grep -Eq "${id}const ca_impl ca_impl_$name ?= ?\{" "$tmp"; then
    found=$(grep -Eo "ca_impl ca_impl_[A-Za-z0-9_]+ ?=" "$tmp" | sed 's/^ca_impl //; s/ *=$//' \
            | sort -u | tr '\n' ',' | sed 's/,$//; s/,/, /g')
    complain "no definition of ca_impl_$name${found:+ (it defines $found)}"
    continue
  fi
  # The first .name designator after the definition.
  got=$(awk -v def="const ca_impl ca_impl_$name" '{
          i = index($0, def); if (!i) next
          rest = substr($0, i)
          if (match(rest, /\.name ?= ?"[^"]*"/)) { s = substr(rest, RSTART, RLENGTH); sub(/^[^"]*/, "", s); print s }
          exit }' "$tmp")
  if [ -z "$got" ]; then
    complain "ca_impl_$name has no .name = \"$name\""
  elif [ "$got" != "\"$name\"" ]; then
    complain "ca_impl_$name has .name = $got, not .name = \"$name\""
  fi
done
exit $bad
