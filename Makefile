# cubic-attention suite. `make test` (layering check + Criterion + experiment smoke + quick
# verify + bench smoke + install test), `make verify [IMPL=name]`, `make bench [QUICK=1]`,
# `make report`, `make layers`,
# `make split [QUICK=1] [IMPL=name]`, `make experiment [QUICK=1] [SCALE=large]`,
# `make install [PREFIX=/usr/local] [DESTDIR=]`, `make uninstall`.
# SANITIZE=1 builds everything under AddressSanitizer + UndefinedBehaviorSanitizer
# into build-san/.

CC       ?= gcc
SANITIZE ?= 0
TSAN     ?= 0
TSAN_CC  ?= clang-14
ARCHER   ?= /usr/lib/llvm-14/lib/libarcher.so
QUICK    ?= 0
IMPL     ?=
# Two threads, or one on a one-CPU machine (bench refuses more threads than CPUs).
THREADS  ?= $(shell [ "$$(nproc 2>/dev/null || echo 1)" -ge 2 ] && echo 2 || echo 1)

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLIS_INC  := /usr/include/$(MULTIARCH)/blis-openmp
# The static archive: the per-CPU context initialisers (bli_cntx_init_zen3, ...) are
# exported only from it (docs/DESIGN.md §7).
BLIS_LIB  := /usr/lib/$(MULTIARCH)/blis-openmp/libblis.a

# ---- instruction sets (docs/DESIGN.md §7) -----------------------------------------------
# Kernel paths, narrowest first, and each one's flags. Every file is compiled for the
# first, the baseline: x86-64-v3 (AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE: Intel Haswell
# and AMD Zen onwards), so one build runs on any such x86-64. The psABI level rather than
# -mavx2 -mfma: it names the set of features such CPUs share as a whole (BMI2, LZCNT and
# F16C come with AVX2 on every one), and it tunes for no one machine, where -march=native
# tuned for the build host. The files of ISA_SRC are compiled once more per path with
# its flags and -DISA_BUILD=<path> (impls/kernels/isa.h); impls/kernels/isa.c runs the
# widest path the CPU supports, or the one CA_ISA names. x86-64-v4 is AVX-512 F, BW, CD,
# DQ and VL: Skylake-SP, Ice Lake, Sapphire Rapids, Zen 4 and 5.
ISAS             := avx2 avx512
ISA_FLAGS_avx2   := -march=x86-64-v3
ISA_FLAGS_avx512 := -march=x86-64-v4
ARCH             := $(ISA_FLAGS_$(firstword $(ISAS)))
# The code whose vectors are wider on a wider path: the register kernel (the products of
# every tile engine and of the model), the tile engine's softmax weights (softmax_rows.c,
# which keeps one sum order at both widths) and the bench's FMA peak and micro-kernel
# ceilings. The rest of flash.c, shared_sweep.c, one_row.c and the model's GELU stay
# baseline-only: their vector code is written on 8-lane types (vexp.h), which a wider
# -march compiles to the same 256-bit operations, and widening it would change their
# sums' order, losing the paths' bit-identical results.
ISA_LIB_SRC      := impls/kernels/regtile.c impls/kernels/softmax_rows.c
ISA_BENCH_SRC    := bench/roof_kern.c
ISA_SRC          := $(ISA_LIB_SRC) $(ISA_BENCH_SRC)
# isa_obj(dir, sources): the per-path objects of sources under dir.
isa_obj = $(foreach i,$(ISAS),$(patsubst %.c,$(1)/%-$(i).o,$(2)))

ifeq ($(TSAN),1)
# ThreadSanitizer needs an OpenMP runtime that tells it about its barriers: clang's
# libomp with the Archer tool (both in Debian 12's clang-14 / libomp-14-dev). gcc's
# libgomp is not instrumented, so under gcc every barrier-ordered access is a "race"
# (see `make tsan`).
CC       := $(TSAN_CC)
BUILD    := build-tsan
OPT      := -O1 -g $(ARCH) -fno-omit-frame-pointer -fsanitize=thread
LDSAN    := -fsanitize=thread
else ifeq ($(SANITIZE),1)
BUILD    := build-san
OPT      := -O1 -g $(ARCH) -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN    := -fsanitize=address,undefined
else
BUILD    := build
OPT      := -O3 $(ARCH) -g
LDSAN    :=
endif

# -ffp-contract=off: a product written before an add is rounded before it under every
# compiler (gcc's ISO C mode implies it, clang's default does not); the kernels' bit-exact
# scores depend on it (impls/kernels/regtile.c). The include paths are each folder's own
# (LAYER_INC below), besides the headers the build writes into $(BUILD).
CFLAGS   := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror $(OPT) -ffp-contract=off \
            -fopenmp -I$(BUILD) -isystem $(BLIS_INC)
LDLIBS   := $(BLIS_LIB) -lcsv -lm -lpthread
LDFLAGS  := -fopenmp $(LDSAN)

# ---- layering (layers.mk) ------------------------------------------------------------
# A folder's sources are compiled with -I for every folder it builds on, directly or
# through others (uses_<folder> in layers.mk), and no other: a program cannot include
# another program's headers, nor a layer those of a layer above it. layers.sh checks the
# includes themselves against the same table.
include layers.mk
LAYER_FOLDERS := $(patsubst uses_%,%,$(filter uses_%,$(.VARIABLES)))
# layer_below(folders): the folders they build on, down to the bottom (a fixed point, so
# that a circle in the table, which layers.sh refuses, cannot make it loop).
layer_down  = $(sort $(1) $(foreach f,$(1),$(uses_$(f))))
layer_below = $(if $(filter-out $(1),$(call layer_down,$(1))),$(call layer_below,$(call layer_down,$(1))),$(1))
$(foreach f,$(LAYER_FOLDERS),$(eval INC_$(f) := $(addprefix -I,$(call layer_below,$(uses_$(f))))))
# The include paths of the folder of the source a recipe compiles.
LAYER_INC = $(INC_$(patsubst %/,%,$(dir $<)))

IMPL_SRC  := $(sort $(wildcard impls/*.c))
IMPL_NAMES:= $(basename $(notdir $(IMPL_SRC)))
KERNEL_SRC:= $(filter-out $(ISA_SRC),$(sort $(wildcard impls/kernels/*.c)))
# lib/: the services below every program. The library proper (installed) holds the
# framework, the float64 harness, the BLIS configuration and the clock the kernel
# profile reads; the rest serves the programs alone (libcubsupport.a).
LIB_SRC   := $(IMPL_SRC) $(KERNEL_SRC) $(sort $(wildcard lib/frame/*.c lib/harness/*.c lib/blis/*.c lib/clock/*.c))
LIB       := $(BUILD)/libcubattn.a
SUPPORT_SRC := $(sort $(wildcard lib/csv/*.c lib/host/*.c lib/passes/*.c lib/results/*.c))
SUPPORT_LIB := $(BUILD)/libcubsupport.a
# lib/comm: the programs' MPI (comm.h), for the programs that run under mpirun alone: it
# is compiled with Open MPI's flags and its archive brings libmpi with it.
COMM_SRC  := $(sort $(wildcard lib/comm/*.c))
COMM_LIB  := $(BUILD)/libcubcomm.a

# The model (model/): one translation unit per precision, float32 and float64, each
# including the files that compute (model/real.h); the layout, initialisation and
# checkpoints once.
MODEL_SRC  := model/model_f32.c model/model_f64.c model/params.c model/checkpoint.c model/scratch.c \
              model/partition.c model/train_step.c
MODEL_LIB  := $(BUILD)/libcubmodel.a

VERIFY_SRC:= $(sort $(wildcard verify/*.c))
BENCH_SRC := $(filter-out $(ISA_SRC),$(sort $(wildcard bench/*.c)))
# The report program: its main, and the rest as an archive the tests link too.
REPORT_SRC:= $(filter-out report/main.c,$(sort $(wildcard report/*.c)))
REPORT_LIB:= $(BUILD)/libreport.a
# tests/tsan_drive.c is its own program (make tsan), not part of the Criterion suite.
TSAN_DRIVE:= tests/tsan_drive.c
# tests/train_ranks.c is its own program too: prefix-parallel training under mpirun.
TRAIN_RANKS:= tests/train_ranks.c
TEST_SRC  := $(filter-out $(TSAN_DRIVE) $(TRAIN_RANKS),$(sort $(wildcard tests/*.c)))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all deps lib layers verify test tsan bench report experiment clean
all: deps $(BUILD)/verify $(BUILD)/bench $(BUILD)/report $(BUILD)/tests $(BUILD)/experiment

# ---- dependencies (docs/DESIGN.md §7) ---------------------------------------------------
DEB_PKGS := libblis-dev libcsv-dev gnuplot-nox libcriterion-dev pkg-config openmpi-bin libopenmpi-dev
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
	  else \
	    echo "missing Debian packages:$$missing"; \
	    echo "run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

# ---- library: every implementation, the framework and the float64 reference --------
# The registry is generated from the file names in impls/: one CA_IMPL(name) per file,
# after lib/frame/check-impls.sh has checked that impls/NAME.c defines
# `const ca_impl ca_impl_NAME = { .name = "NAME", ... }` (a clear message instead of a
# link error or a silent mismatch).
# The list of names is compared with the last one on every make, so that removing a file
# from impls/ unregisters it too (a deleted prerequisite triggers no rule).
$(BUILD)/impl_names: FORCE | $(BUILD)
	@echo '$(IMPL_NAMES)' > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm $@.tmp || mv $@.tmp $@
FORCE:

$(BUILD)/registry_list.h: $(IMPL_SRC) $(BUILD)/impl_names Makefile lib/frame/check-impls.sh | $(BUILD)
	@sh lib/frame/check-impls.sh "$(CC) $(CFLAGS) $(INC_impls)" $(IMPL_SRC)
	@printf '%s\n' $(foreach n,$(IMPL_NAMES),'CA_IMPL($(n))') > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm $@.tmp || mv $@.tmp $@

$(BUILD):
	@mkdir -p $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LAYER_INC) -MMD -MP -c $< -o $@

# The per-path objects (name-avx2.o, name-avx512.o, ...), plain and -fPIC (install): the
# path's flags come after CFLAGS, so its -march overrides the baseline's.
define isa_rules
$(BUILD)/obj/%-$(1).o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LAYER_INC) $$(ISA_FLAGS_$(1)) -DISA_BUILD=$(1) -MMD -MP -c $$< -o $$@
$(BUILD)/pic/%-$(1).o: %.c
	@mkdir -p $$(dir $$@)
	$$(CC) $$(CFLAGS) $$(LAYER_INC) $$(ISA_FLAGS_$(1)) -DISA_BUILD=$(1) -fPIC -MMD -MP -c $$< -o $$@
endef
$(foreach i,$(ISAS),$(eval $(call isa_rules,$(i))))

# One ISA(name) per path, for the C side's tables; rewritten only when ISAS changes.
$(BUILD)/isa_list.h: FORCE | $(BUILD)
	@printf 'ISA(%s)\n' $(ISAS) > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm $@.tmp || mv $@.tmp $@
ISA_LIST_USERS := impls/kernels/regtile_dispatch.o bench/roof.o
$(addprefix $(BUILD)/obj/,$(ISA_LIST_USERS)) $(addprefix $(BUILD)/pic/,$(ISA_LIST_USERS)): $(BUILD)/isa_list.h

# Only the registry reads the generated list; a new impl file rebuilds just that.
$(BUILD)/obj/lib/frame/registry.o: $(BUILD)/registry_list.h

$(LIB): $(call obj,$(LIB_SRC)) $(call isa_obj,$(BUILD)/obj,$(ISA_LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

$(SUPPORT_LIB): $(call obj,$(SUPPORT_SRC))
	@rm -f $@
	ar rcs $@ $^

$(REPORT_LIB): $(call obj,$(REPORT_SRC))
	@rm -f $@
	ar rcs $@ $^

lib: $(LIB)

$(MODEL_LIB): $(call obj,$(MODEL_SRC))
	@rm -f $@
	ar rcs $@ $^

# The float32 model once more with the bugs of model/mutant.h (model/model_f32mut.c), for
# the tests alone: verify and the library never link it.
MODEL_MUT_LIB := $(BUILD)/libcubmodel_mut.a
$(MODEL_MUT_LIB): $(call obj,model/model_f32mut.c)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/verify: $(call obj,$(VERIFY_SRC)) $(MODEL_LIB) $(SUPPORT_LIB) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench: $(call obj,$(BENCH_SRC)) $(call isa_obj,$(BUILD)/obj,$(ISA_BENCH_SRC)) $(MODEL_LIB) $(COMM_LIB) $(SUPPORT_LIB) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(MPI_LIBS) -o $@

# The bench records the optimisation flags it was built with.
$(BUILD)/obj/bench/machine.o: CFLAGS += '-DCA_BUILD_OPT="$(OPT)"'

# The report reads results/*.csv; from the library it takes only the operator table
# (and the passes of lib/passes), so the linker pulls in neither an implementation nor BLIS.
$(BUILD)/report: $(call obj,report/main.c) $(REPORT_LIB) $(SUPPORT_LIB) $(LIB)
	$(CC) $(LDFLAGS) $^ -lcsv -lm -o $@

# Tests link the verify checks (not verify's main) to drive them on mutants.
VERIFY_LIBSRC := $(filter-out verify/main.c, $(VERIFY_SRC))
$(BUILD)/tests: $(call obj,$(TEST_SRC)) $(call obj,$(VERIFY_LIBSRC) experiment/tasks.c experiment/assign.c) $(MODEL_MUT_LIB) $(MODEL_LIB) $(REPORT_LIB) $(SUPPORT_LIB) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

# The training driver of tests/train_ranks.sh, linked with lib/comm (Open MPI).
$(BUILD)/train_ranks: $(call obj,$(TRAIN_RANKS) verify/tolerance.c) $(MODEL_LIB) $(COMM_LIB) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(MPI_LIBS) -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- the jobs ----------------------------------------------------------------------
# A partial verification (QUICK=1 or IMPL=...) writes its summary under $(BUILD)/partial/,
# never over the full grid's results/verify.csv that the report shows.
# verify/paths.sh runs verify on the kernel path the library chooses, then on every other
# path this CPU runs (CA_ISA=avx2 on an AVX-512 machine); those summaries go to
# $(BUILD)/paths/, the report showing the chosen path's.
PARTIAL    := $(if $(or $(filter 1,$(QUICK)),$(IMPL)),1)
VERIFY_OUT := $(if $(PARTIAL),$(BUILD)/partial/results,results)
verify: deps $(BUILD)/verify
	@mkdir -p $(VERIFY_OUT)
	OMP_NUM_THREADS=$(THREADS) sh verify/paths.sh $(BUILD) $(BUILD)/paths --threads $(THREADS) \
	  $(if $(IMPL),--impl $(IMPL)) $(if $(filter 1,$(QUICK)),--quick) --summary $(VERIFY_OUT)/verify.csv
	@$(if $(PARTIAL),echo "verify: a partial run: its summary is $(VERIFY_OUT)/verify.csv (results/verify.csv is the full grid's)")

# LSAN_OPTIONS: suppresses one allocation Criterion itself never frees, and one of Open
# MPI's (tests/lsan.supp).
# verify --quick runs last (on each kernel path this CPU runs), so that a failing cell there
# leaves the other steps run.
# The Criterion suite takes about a minute: --verbose has it print a line per test as the
# test ends, numbered here against the total that --list counts, instead of a minute of
# silence; its [RUN ] and per-suite lines are dropped and its own exit status is kept.
# Open MPI refuses to run as root unless told so (mpirun), and CI runs as root.
SAN_ENV := LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp
MPI_ENV := OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# make layers: every #include of the tree against layers.mk (layers.sh); make test runs
# it first, before anything is compiled.
layers:
	@sh layers.sh

test: deps layers $(BUILD)/tests $(BUILD)/verify $(BUILD)/bench $(BUILD)/report $(BUILD)/experiment $(BUILD)/train_ranks
	@echo "$(SAN_ENV) ./$(BUILD)/tests --jobs 2 --verbose"
	@n=$$($(SAN_ENV) ./$(BUILD)/tests --list | awk '/: [0-9]+ tests?$$/ { n += $$(NF - 1) } END { print n }'); \
	{ $(SAN_ENV) ./$(BUILD)/tests --jobs 2 --verbose 2>&1; printf '\ncriterion-exit %d\n' $$?; } | awk -v n="$$n" '\
	  /^\[RUN \]/ || /^\[====\] Running / { next } \
	  /^criterion-exit / { rc = $$2; seen = 1; next } \
	  /^\[(PASS|FAIL)\]/ { printf "(%d/%d) ", ++k, n } \
	  { print; fflush() } \
	  END { exit seen ? rc : 1 }'
	$(SAN_ENV) sh experiment/smoke.sh $(BUILD)
	$(SAN_ENV) $(MPI_ENV) sh experiment/mpi_smoke.sh $(BUILD)
	$(SAN_ENV) $(MPI_ENV) sh tests/train_ranks.sh $(BUILD)
	$(SAN_ENV) sh tests/verify_cli.sh $(BUILD)
	$(SAN_ENV) $(MPI_ENV) sh bench/smoke.sh $(BUILD) $(THREADS)
	sh tests/test-check-impls.sh "$(CC) $(CFLAGS) $(INC_impls)"
	sh tests/test-layers.sh "$(CC) $(CFLAGS) $(INC_bench)"
	$(SAN_ENV) sh tests/test-isa.sh $(BUILD) $(ISAS)
	sh tests/test-install.sh "$(MAKE)" SANITIZE=$(SANITIZE) CC=$(CC)
	$(SAN_ENV) OMP_NUM_THREADS=$(THREADS) sh verify/paths.sh $(BUILD) $(BUILD)/paths --quick \
	  --threads $(THREADS)

# ---- the capability experiment (docs/DESIGN.md §9) -----------------------------------------
# make experiment: causal vs cubic models on four tasks into results/experiment*.csv,
# then REPORT.md (at most an hour, runs two at a time, one thread each; an interrupted run
# resumes from build/experiment-work/). SCALE=large: the plan for a bigger machine
# (`build/experiment --scale large --plan` and `--estimate` state its cost first).
# QUICK=1: tiny models in seconds, into $(BUILD)/quick/results/.
SCALE    ?= default
ifneq ($(filter-out 0 1,$(QUICK)),)
$(error QUICK must be 0 or 1, not '$(QUICK)')
endif
EXP_SRC  := $(sort $(wildcard experiment/*.c))
EXP_ARGS := $(if $(filter 1,$(QUICK)),--quick --work $(BUILD)/quick/experiment --out $(BUILD)/quick/results,--scale $(SCALE) --work $(BUILD)/experiment-work --out results)
# Open MPI (docs/DESIGN.md §7), for the programs that run under mpirun: only lib/comm and
# experiment/ranks.c include mpi.h, and only the programs that link lib/comm (experiment,
# bench, the tests' training driver) link libmpi, with flags from Open MPI's compiler
# wrapper (CC stays the compiler; its headers with -isystem, as BLIS's). Expanded when a
# recipe runs, so that make deps, which installs Open MPI, can run first in one `make`.
MPI_CFLAGS = $(patsubst -I%,-isystem %,$(shell mpicc --showme:compile))
MPI_LIBS   = $(shell mpicc --showme:link)
$(BUILD)/obj/experiment/ranks.o $(call obj,$(COMM_SRC)): $(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LAYER_INC) $(MPI_CFLAGS) -MMD -MP -c $< -o $@
$(COMM_LIB): $(call obj,$(COMM_SRC))
	@rm -f $@
	ar rcs $@ $^
$(BUILD)/experiment: $(call obj,$(EXP_SRC)) $(MODEL_LIB) $(COMM_LIB) $(SUPPORT_LIB) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) $(MPI_LIBS) -o $@
experiment: deps $(BUILD)/experiment $(BUILD)/report
	OMP_NUM_THREADS=1 ./$(BUILD)/experiment $(EXP_ARGS)
	$(if $(filter 1,$(QUICK)),,./$(BUILD)/report --results results --plots plots --out REPORT.md)

# ---- ThreadSanitizer -------------------------------------------------------------------
# make tsan: every implementation's entry points at 2 and 4 threads under TSan (clang-14,
# libomp + Archer), which must report nothing; then the planted dq race of tests/mutants.c,
# which it must report (TSan exits 66), or a clean run would prove nothing. Not part of
# make test: it needs clang-14 and libomp-14-dev, and takes about a minute.
TSAN_PKGS := clang-14 libomp-14-dev
TSAN_ENV  := TSAN_OPTIONS=ignore_noninstrumented_modules=1 OMP_TOOL_LIBRARIES=$(ARCHER)
$(BUILD)/tsan_drive: $(call obj,$(TSAN_DRIVE) tests/mutants.c verify/problem.c) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

tsan:
	@if ! command -v $(TSAN_CC) >/dev/null || [ ! -f $(ARCHER) ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(TSAN_PKGS) >/dev/null || exit 1; \
	  else echo "make tsan needs: sudo apt-get install -y $(TSAN_PKGS)"; exit 1; fi; \
	fi
	$(MAKE) --no-print-directory TSAN=1 deps build-tsan/tsan_drive
	$(TSAN_ENV) ./build-tsan/tsan_drive 2>build-tsan/tsan.log || \
	  { grep -A12 'WARNING: ThreadSanitizer' build-tsan/tsan.log | head -60; echo "tsan: races reported (build-tsan/tsan.log)"; exit 1; }
	@$(TSAN_ENV) ./build-tsan/tsan_drive --mutant 2>build-tsan/tsan_mutant.log; rc=$$?; \
	  if [ $$rc = 66 ] && grep -q 'WARNING: ThreadSanitizer: data race' build-tsan/tsan_mutant.log; then \
	    echo "tsan: clean; the planted dq race is reported"; \
	  else echo "tsan: FAIL: the planted dq race was not reported (exit $$rc)"; exit 1; fi

# ---- benchmark and report (docs/DESIGN.md §5-6) ---------------------------------------------
# make bench: the default sweep (every impl, op and pass, N 64..8192, THREADS threads, cells
# over 15 s or 4 GB skipped by prediction, capped at 18 min) plus single-thread causal fwd,
# decode step and cubic_last fwd (N 256..4096, capped at 150 s; a missed memory-bound
# target is judged against its one-thread rate) plus causal fwd at d = 128 (N 1024..4096, THREADS threads,
# capped at 60 s: a roofline target's shape) plus the model cells (bench --model: causal
# vs cubic models L = 4 and 2, d_model 128, 2 heads, V 256, N 64..4096 on omp, cells
# predicted over 30 s a call skipped, so that the packed cubic training step is timed up
# to N = 512; capped at 4 min) plus the split of the roofline targets' cells (make split,
# omp), plus prefix-parallel training across THREADS MPI ranks of one thread each against
# one rank (bench --model --scaling under mpirun: the cubic model at the published shape,
# N 64, d_model 384, 6 layers; about a minute), then plots/ and REPORT.md. Each run
# measures its ceilings (sgemm, FMA peak, micro-kernel, bandwidth) at its thread count.
# QUICK=1: under a minute, into $(BUILD)/quick/ so that the committed evidence in
# results/ is left alone.
# The runs write into $(BENCH_STAGE); only when all succeeded are the CSVs moved into
# $(BENCH_DIR)/results together (bench/stage.sh: signals ignored for those renames) and
# the report regenerated, so an interrupted or failed run leaves results/ as it was. A
# failed move keeps the CSVs in $(BENCH_STAGE) and says so, and the next make bench
# refuses to run (rather than delete them) until they are moved or deleted by hand.
# IMPL=...: a partial sweep, into $(BUILD)/partial/ like QUICK=1, never over results/.
ifneq ($(IMPL),)
BENCH_DIR   := $(BUILD)/partial
else
BENCH_DIR   := .
endif
ifeq ($(QUICK),1)
BENCH_DIR   := $(BUILD)/quick
BENCH_MAIN  := --quick
BENCH_T1    := --quick
BENCH_D128  := --quick
BENCH_MODEL := --quick
BENCH_SCALING := --quick
else
BENCH_MAIN  := --total-budget 18m
BENCH_T1    := --n 256:4096 --budget 12s --total-budget 150s
BENCH_D128  := --n 1024:4096 --budget 8s --total-budget 60s
BENCH_MODEL := --budget 30s --total-budget 4m
BENCH_SCALING := --rep-time 5s
endif
BENCH_STAGE := $(BUILD)/bench-stage
bench: deps $(BUILD)/bench $(BUILD)/report
	@sh bench/stage.sh start $(BENCH_STAGE) $(BENCH_DIR)/results
	@mkdir -p $(BENCH_DIR)/results
	@touch $(BENCH_DIR)/results/.write-test && rm -f $(BENCH_DIR)/results/.write-test || \
	  { echo "bench: cannot write into $(BENCH_DIR)/results/: nothing was run"; exit 1; }
	@if [ -f results/verify.csv ] && ! head -1 results/verify.csv | grep -q '"grid"'; then \
	  if [ "$(BENCH_DIR)" = . ]; then \
	    echo "bench: results/verify.csv predates its grid column, and the report of this run"; \
	    echo "  would refuse it after the sweep: run make verify first; nothing was run"; exit 1; \
	  else echo "bench: results/verify.csv predates its grid column: not shown (run make verify)"; fi; \
	elif [ "$(BENCH_DIR)" != . ] && [ -f results/verify.csv ]; then cp results/verify.csv $(BENCH_DIR)/results/; fi
	OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/bench $(BENCH_MAIN) --threads $(THREADS) \
	  $(if $(IMPL),--impl $(IMPL)) --out $(BENCH_STAGE)/bench.csv
	OMP_NUM_THREADS=1 ./$(BUILD)/bench $(BENCH_T1) --threads 1 --op causal,decode,cubic_last \
	  --pass fwd,step \
	  $(if $(IMPL),--impl $(IMPL)) --out $(BENCH_STAGE)/bench_t1.csv
	OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/bench $(BENCH_D128) --threads $(THREADS) --d 128 \
	  --op causal --pass fwd $(if $(IMPL),--impl $(IMPL)) --out $(BENCH_STAGE)/bench_d128.csv
	OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/bench --model $(BENCH_MODEL) --threads $(THREADS) \
	  --out $(BENCH_STAGE)/bench_model.csv
	OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/bench --split $(SPLIT_ARGS) --out $(BENCH_STAGE)/split.csv
	$(MPI_ENV) OMP_NUM_THREADS=1 mpirun -np $(THREADS) --oversubscribe --bind-to none ./$(BUILD)/bench --model \
	  --scaling $(BENCH_SCALING) --out $(BENCH_STAGE)/bench_scaling.csv
	sh bench/stage.sh commit $(BENCH_STAGE) $(BENCH_DIR)/results bench.csv bench_t1.csv \
	  bench_d128.csv bench_model.csv split.csv bench_scaling.csv
	./$(BUILD)/report --results $(BENCH_DIR)/results --plots $(BENCH_DIR)/plots \
	  --out $(BENCH_DIR)/REPORT.md

# ---- where a fused kernel's time goes (docs/DESIGN.md §5.6) -------------------------------
# make split: bench --split on the roofline targets' cells (omp, or IMPL=one impl), each
# call split into tile products, K^T/V^T packing and the rest, against the FMA peak of the
# same run, into $(BENCH_DIR)/results/split.csv (build/quick/ under QUICK=1, whose cells
# are capped at N = 256); about a minute on an idle machine. make bench runs it too (on
# omp, the fastest fused implementation) after its sweeps, so that the split lands in
# results/ with the run it explains; this target reruns it alone.
ifeq ($(QUICK),1)
SPLIT_ARGS := --quick
else
SPLIT_ARGS := --budget 30s
endif
SPLIT_RUN = OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/bench --split $(SPLIT_ARGS) $(if $(IMPL),--impl $(IMPL)) --out
.PHONY: split
split: deps $(BUILD)/bench
	@mkdir -p $(BENCH_DIR)/results
	$(SPLIT_RUN) $(BENCH_DIR)/results/split.csv

# Plots and REPORT.md from results/*.csv, without running the bench.
report: $(BUILD)/report
	./$(BUILD)/report --results results --plots plots --out REPORT.md

clean:
	rm -rf build build-san build-tsan

# ---- install: headers, libcubattn.a, libcubattn.so, cubattn.pc -------------------------
# make install [PREFIX=/usr/local] [DESTDIR=]: a program then builds with
#   cc $(pkg-config --cflags cubattn) x.c $(pkg-config --libs cubattn)
# (PKG_CONFIG_PATH=$(PREFIX)/lib/pkgconfig when PREFIX is not searched by default).
# The installed library is its own build of the library sources: -fPIC objects in
# $(BUILD)/pic/ (same OPT; the build/ objects the bench times are untouched), linked with
# the members of Debian's static libblis.a they use (the only BLIS exporting the per-CPU
# context initialisers; its objects are PIC) into one relocatable object whose only
# global symbols are ca_*: BLIS is embedded in both libraries, hidden, and cannot clash
# with another BLAS the program links. The .so needs libgomp, libm and libc only
# (-z defs); the .a needs the same from the program's link (Libs.private). libcsv is
# used by the programs (lib/csv), never by the library.
PREFIX     ?= /usr/local
DESTDIR    ?=
LIBDIR     := $(PREFIX)/lib
INCLUDEDIR := $(PREFIX)/include
# SOVERSION: bumped whenever a program built against an older install could not load or
# call this one (a symbol removed, the layout of ca_impl or ca_shape changed).
VERSION    := 2.0.0
SOVERSION  := 2
PKG        := $(BUILD)/pkg
SONAME     := libcubattn.so.$(SOVERSION)
SOLIB      := libcubattn.so.$(VERSION)
PUB_HDR    := include/cubattn.h include/cubattn_harness.h
LD         ?= ld
OBJCOPY    ?= objcopy
# The .pc's Libs carry an rpath to $(LIBDIR), so that a program built with exactly the
# pkg-config flags runs from any PREFIX without LD_LIBRARY_PATH or ldconfig; omitted for
# PREFIX=/usr, which the dynamic loader searches anyway. A sanitizer build of the library
# needs the sanitizer runtimes in the program too, so its .pc says so.
RPATH_FLAG := -Wl,-rpath,$${libdir}
PC_RPATH   := $(if $(filter /usr,$(PREFIX)),,$(RPATH_FLAG))
PC_SAN     := $(if $(filter 1,$(SANITIZE)),$(LDSAN))

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LAYER_INC) -fPIC -MMD -MP -c $< -o $@
$(BUILD)/pic/lib/frame/registry.o: $(BUILD)/registry_list.h

$(PKG)/cubattn.o: $(patsubst %.c,$(BUILD)/pic/%.o,$(LIB_SRC)) $(call isa_obj,$(BUILD)/pic,$(ISA_LIB_SRC)) $(BLIS_LIB)
	@mkdir -p $(dir $@)
	$(LD) -r -o $@.all $(filter %.o,$^) $(BLIS_LIB)
	$(OBJCOPY) --wildcard --keep-global-symbol='ca_*' $@.all $@
	@rm -f $@.all

$(PKG)/libcubattn.a: $(PKG)/cubattn.o
	@rm -f $@
	ar rcs $@ $^

$(PKG)/$(SOLIB): $(PKG)/cubattn.o
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,-z,defs -Wl,-z,text $(LDFLAGS) $^ -lm -lpthread -o $@

.PHONY: pkg install uninstall
pkg: $(PKG)/libcubattn.a $(PKG)/$(SOLIB)

install: deps pkg
	install -d $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 $(PUB_HDR) $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(PKG)/libcubattn.a $(DESTDIR)$(LIBDIR)/
	install -m 755 $(PKG)/$(SOLIB) $(DESTDIR)$(LIBDIR)/
	ln -sf $(SOLIB) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libcubattn.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' -e 's|@RPATH@|$(PC_RPATH)|' \
	    -e 's|@SANITIZE@|$(PC_SAN)|' -e 's| *$$||' lib/frame/cubattn.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/cubattn.pc

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INCLUDEDIR)/,$(notdir $(PUB_HDR))) \
	      $(addprefix $(DESTDIR)$(LIBDIR)/,libcubattn.a $(SOLIB) $(SONAME) libcubattn.so) \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/cubattn.pc

-include $(shell find $(BUILD)/pic -name '*.d' 2>/dev/null)
