#!/bin/sh
# stage.sh start|commit STAGE RESULTS [FILE...]: the staging of make bench's CSVs
# (docs/DESIGN.md §5.5). The runs of one `make bench` write into STAGE; only when all
# have succeeded are their CSVs moved into RESULTS together, so that RESULTS never mixes
# two runs, and a run's CSVs are never lost without a word.
#   start   A fresh, empty STAGE. A STAGE holding the CSVs of an earlier complete run
#           whose move failed (it has the file `complete`, which names the folder they
#           were going to) is kept: start refuses, naming the files and that folder,
#           until they are moved there or deleted by hand. The partial CSVs an
#           interrupted run left are removed, and said so.
#   commit  Checks every FILE is in STAGE, marks STAGE complete (writing RESULTS into
#           `complete`), then moves STAGE/FILE... into RESULTS: each first beside
#           its target under a temporary name (.FILE.incoming), then renamed over it, so
#           that a failure before the last renames leaves RESULTS as it was. On a failure
#           it says where the CSVs are kept and exits 1. Signals are ignored meanwhile.
set -u
[ $# -ge 3 ] || { echo "usage: stage.sh start|commit STAGE RESULTS [FILE...]" >&2; exit 2; }
cmd=$1 stage=$2 results=$3
shift 3

csvs() { (cd "$stage" 2>/dev/null && ls -- *.csv 2>/dev/null | tr '\n' ' ' | sed 's/ $//'); }

case $cmd in
start)
  if [ -f "$stage/complete" ] && [ -n "$(csvs)" ]; then
    to=$(cat "$stage/complete")
    echo "bench: $stage/ holds the CSVs of an earlier complete run whose move into" \
         "${to:-its results folder}/ failed ($(csvs)): move them there by hand" \
         "(mv $stage/*.csv ${to:-RESULTS}/) or delete $stage/, then run again; nothing" \
         "was run" >&2
    exit 1
  fi
  if [ -d "$stage" ] && [ -n "$(ls -A "$stage")" ]; then
    echo "bench: removing what an interrupted run left in $stage/: $(ls "$stage" | tr '\n' ' ')" >&2
  fi
  rm -rf "$stage" && mkdir -p "$stage"
  ;;
commit)
  trap '' INT TERM HUP QUIT
  kept() {
    echo "bench: $1; the run's CSVs are kept in $stage/ ($(csvs)): move them into" \
         "$results/ by hand; the next make bench refuses to run until then" >&2
    exit 1
  }
  for f; do
    [ -f "$stage/$f" ] || {
      echo "bench: $stage/$f is missing: the run is incomplete and nothing was moved" \
           "into $results/" >&2
      exit 1
    }
  done
  echo "$results" >"$stage/complete" || kept "cannot mark $stage/ complete"
  for f; do
    t=$results/$f
    if [ -e "$t" ] && [ ! -f "$t" ]; then kept "$t is not a regular file"; fi
  done
  moved=""
  for f; do
    if mv -f "$stage/$f" "$results/.$f.incoming"; then
      moved="$moved $f"
    else
      back=ok
      for m in $moved; do mv -f "$results/.$m.incoming" "$stage/$m" || back=""; done
      [ -n "$back" ] || kept "cannot move $f into $results/, nor the ones moved before it" \
                             "back ($results/.*.incoming are new; the rest of $results/ is as it was)"
      kept "cannot move $f into $results/ ($results/ is as it was)"
    fi
  done
  done_=""
  for f; do
    mv -f "$results/.$f.incoming" "$results/$f" || {
      echo "bench: cannot rename $results/.$f.incoming over $results/$f: $results/ now" \
           "holds the new${done_:- (none)} beside the earlier run's other CSVs; the new" \
           "ones not yet in place are $results/.*.incoming" >&2
      exit 1
    }
    done_="$done_ $f"
  done
  rm -rf "$stage"
  ;;
*)
  echo "stage.sh: unknown command '$cmd' (start or commit)" >&2
  exit 2
  ;;
esac
