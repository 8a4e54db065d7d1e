# cubic-attention suite. `make test` (Criterion + quick verify + bench smoke),
# `make verify [IMPL=name]`, `make bench [QUICK=1]`, `make report`.
# SANITIZE=1 builds everything under AddressSanitizer + UndefinedBehaviorSanitizer
# into build-san/.

CC       ?= gcc
SANITIZE ?= 0
TSAN     ?= 0
TSAN_CC  ?= clang-14
ARCHER   ?= /usr/lib/llvm-14/lib/libarcher.so
QUICK    ?= 0
IMPL     ?=
THREADS  ?= 2

MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLIS_INC  := /usr/include/$(MULTIARCH)/blis-openmp
# The static archive: the per-CPU context initialisers (bli_cntx_init_zen3, ...) are
# exported only from it (DESIGN.md §7).
BLIS_LIB  := /usr/lib/$(MULTIARCH)/blis-openmp/libblis.a

ifeq ($(TSAN),1)
# ThreadSanitizer needs an OpenMP runtime that tells it about its barriers: clang's
# libomp with the Archer tool (both in Debian 12's clang-14 / libomp-14-dev). gcc's
# libgomp is not instrumented, so under gcc every barrier-ordered access is a "race"
# (see `make tsan`).
CC       := $(TSAN_CC)
BUILD    := build-tsan
OPT      := -O1 -g -march=native -fno-omit-frame-pointer -fsanitize=thread
LDSAN    := -fsanitize=thread
else ifeq ($(SANITIZE),1)
BUILD    := build-san
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDSAN    := -fsanitize=address,undefined
else
BUILD    := build
OPT      := -O3 -march=native -g
LDSAN    :=
endif

CFLAGS   := -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror $(OPT) -fopenmp \
            -Iinclude -Iimpls/frame -Iimpls/kernels -Iverify -I$(BUILD) -isystem $(BLIS_INC)
LDLIBS   := $(BLIS_LIB) -lcsv -lm -lpthread
LDFLAGS  := -fopenmp $(LDSAN)

IMPL_SRC  := $(sort $(wildcard impls/*.c))
IMPL_NAMES:= $(basename $(notdir $(IMPL_SRC)))
FRAME_SRC := $(sort $(wildcard impls/frame/*.c impls/kernels/*.c))
HARNESS_SRC := $(sort $(wildcard verify/harness/*.c))
LIB_SRC   := $(IMPL_SRC) $(FRAME_SRC) $(HARNESS_SRC)
LIB       := $(BUILD)/libcubattn.a

VERIFY_SRC:= $(sort $(wildcard verify/*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
REPORT_SRC:= $(sort $(wildcard bench/report/*.c))
# tests/tsan_drive.c is its own program (make tsan), not part of the Criterion suite.
TSAN_DRIVE:= tests/tsan_drive.c
TEST_SRC  := $(filter-out $(TSAN_DRIVE),$(sort $(wildcard tests/*.c)))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

.PHONY: all deps lib verify test tsan bench report clean
all: deps $(BUILD)/verify $(BUILD)/bench $(BUILD)/report $(BUILD)/tests

# ---- dependencies (DESIGN.md §7) ---------------------------------------------------
DEB_PKGS := libblis-dev libcsv-dev gnuplot-nox libcriterion-dev
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
# The registry is generated from the file names in impls/: one CA_IMPL(name) per file.
$(BUILD)/registry_list.h: $(IMPL_SRC) Makefile | $(BUILD)
	@printf '%s\n' $(foreach n,$(IMPL_NAMES),'CA_IMPL($(n))') > $@.tmp
	@cmp -s $@.tmp $@ 2>/dev/null && rm $@.tmp || mv $@.tmp $@

$(BUILD):
	@mkdir -p $@

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# Only the registry reads the generated list; a new impl file rebuilds just that.
$(BUILD)/obj/impls/frame/registry.o: $(BUILD)/registry_list.h

$(LIB): $(call obj,$(LIB_SRC))
	@rm -f $@
	ar rcs $@ $^

lib: $(LIB)

$(BUILD)/verify: $(call obj,$(VERIFY_SRC)) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BUILD)/bench: $(call obj,$(BENCH_SRC)) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# The bench records the optimisation flags it was built with.
$(BUILD)/obj/bench/machine.o: CFLAGS += '-DCA_BUILD_OPT="$(OPT)"'

# The report reads results/*.csv and needs neither the library nor BLIS.
$(BUILD)/report: $(call obj,$(REPORT_SRC))
	$(CC) $(LDFLAGS) $^ -lcsv -lm -o $@

# Tests link the verify checks (not verify's main) to drive them on mutants.
VERIFY_LIBSRC := $(filter-out verify/main.c, $(VERIFY_SRC))
$(BUILD)/tests: $(call obj,$(TEST_SRC)) $(call obj,$(VERIFY_LIBSRC)) $(LIB)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -lcriterion -o $@

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# ---- the jobs ----------------------------------------------------------------------
verify: deps $(BUILD)/verify
	OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/verify --threads $(THREADS) $(if $(IMPL),--impl $(IMPL)) \
	  $(if $(filter 1,$(QUICK)),--quick) --summary results/verify.csv

# LSAN_OPTIONS: suppresses one allocation Criterion itself never frees (tests/lsan.supp).
# verify --quick runs last, so that a failing cell there leaves the other steps run.
SAN_ENV := LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp
test: deps $(BUILD)/tests $(BUILD)/verify $(BUILD)/bench $(BUILD)/report
	$(SAN_ENV) ./$(BUILD)/tests --jobs 2
	$(SAN_ENV) sh tests/verify_cli.sh $(BUILD)
	$(SAN_ENV) sh bench/smoke.sh $(BUILD) $(THREADS)
	$(SAN_ENV) OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/verify --quick --threads $(THREADS)

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

# ---- benchmark and report (DESIGN.md §5-6) ---------------------------------------------
# make bench: the default sweep (every impl, op and pass, N 64..8192, THREADS threads, cells
# over 15 s or 4 GB skipped by prediction, capped at 11 min) plus single-thread causal fwd
# (N 256..4096, capped at 90 s), then plots/ and REPORT.md. QUICK=1: under a minute, into
# $(BUILD)/quick/ so that the committed evidence in results/ is left alone.
ifeq ($(QUICK),1)
BENCH_DIR   := $(BUILD)/quick
BENCH_MAIN  := --quick
BENCH_T1    := --quick
else
BENCH_DIR   := .
BENCH_MAIN  :=
BENCH_T1    := --n 256:4096 --budget 12s --total-budget 90s
endif
bench: deps $(BUILD)/bench $(BUILD)/report
	@mkdir -p $(BENCH_DIR)/results
	@if [ "$(BENCH_DIR)" != . ] && [ -f results/verify.csv ]; then cp results/verify.csv $(BENCH_DIR)/results/; fi
	OMP_NUM_THREADS=$(THREADS) ./$(BUILD)/bench $(BENCH_MAIN) --threads $(THREADS) \
	  $(if $(IMPL),--impl $(IMPL)) --out $(BENCH_DIR)/results/bench.csv
	OMP_NUM_THREADS=1 ./$(BUILD)/bench $(BENCH_T1) --threads 1 --op causal --pass fwd \
	  $(if $(IMPL),--impl $(IMPL)) --out $(BENCH_DIR)/results/bench_t1.csv
	./$(BUILD)/report --results $(BENCH_DIR)/results --plots $(BENCH_DIR)/plots \
	  --out $(BENCH_DIR)/REPORT.md

# Plots and REPORT.md from results/*.csv, without running the bench.
report: $(BUILD)/report
	./$(BUILD)/report --results results --plots plots --out REPORT.md

clean:
	rm -rf build build-san build-tsan
