# layers.mk: the layering of the source tree, stated once. The Makefile gives each
# folder's sources the include paths (-I) of the folders written here and of everything
# below them, and no other; layers.sh, run early by `make test`, checks every #include of
# every .c and .h against the same lines.
#
# uses_FOLDER := the folders FOLDER builds on directly. What those build on comes with
# them: a folder may include the headers of every folder it reaches down this table, and
# of its own. An include that reaches up (a folder that builds on this one) or sideways
# (neither builds on the other: two programs) is refused, and so is a circle here.
# Bottom to top: include/ (the public contract), lib/ (the services every program
# shares), impls/kernels, impls, model, then the programs; tests/ sees everything.
# One line per folder, every folder holding sources; no line continuations (layers.sh
# reads these lines as they are).
uses_include       :=
uses_lib/blis      :=
uses_lib/clock     :=
uses_lib/comm      :=
uses_lib/csv       :=
uses_lib/frame     := include
uses_lib/harness   := include
uses_lib/host      :=
uses_lib/passes    := include
uses_lib/results   := lib/csv
uses_impls/kernels := include lib/blis lib/clock
uses_impls         := impls/kernels
uses_model         := impls
uses_verify        := model lib/results
uses_bench         := model lib/clock lib/comm lib/host lib/passes lib/results
uses_report        := lib/passes lib/results
uses_experiment    := model lib/clock lib/comm lib/host lib/results
uses_examples      := include
uses_tests         := bench experiment report verify

# Headers the build writes into its own folder (build/), which every folder may include.
layers_generated   := registry_list.h isa_list.h
