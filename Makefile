# krtgate developer entry points. `make help` lists them. CMake does the real work (CMakeLists.txt).

SHELL := /bin/bash
.DEFAULT_GOAL := help

NPROC  ?= $(shell nproc 2>/dev/null || echo 2)
PREFIX ?= /usr/local
CMAKE  ?= cmake
CTEST  ?= ctest

# -Werror in CI (CI set to anything but empty/false/0), warnings only on a developer's machine.
WERROR := $(if $(filter-out 0 false False FALSE no,$(CI)),ON,OFF)

RELEASE_DIR  := build/release
ASAN_DIR     := build/asan
VALGRIND_DIR := build/valgrind

.PHONY: help deps build run quickstart test test-asan test-valgrind fuzz bench install clean

FUZZ_DIR     := build/fuzz
FUZZ_SECONDS ?= 60

help: ## Show this help
	@echo "krtgate make targets:"
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	    awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'
	@echo "Variables: PREFIX=$(PREFIX) (install), NPROC=$(NPROC), CI=$(CI) (-Werror when set)"

deps: ## Check Debian packages; install the missing ones when root (scripts/install-deps.sh)
	@bash scripts/install-deps.sh

build: deps ## Configure and build build/release (Release)
	$(CMAKE) -S . -B $(RELEASE_DIR) -DCMAKE_BUILD_TYPE=Release -DKRT_WERROR=$(WERROR) \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX)
	$(CMAKE) --build $(RELEASE_DIR) -j$(NPROC)

run: build ## Build, then run the libkrt example (pods + services -> endpoints)
	./$(RELEASE_DIR)/krt-example-endpoints

quickstart: build ## Build, then serve examples/quickstart: echo backends + krtgate run (Ctrl-C stops)
	bash examples/quickstart/run.sh $(CURDIR)/$(RELEASE_DIR)/krtgate

test: deps ## Every test under ASan+UBSan, again under valgrind, then a short fuzz run
	$(MAKE) --no-print-directory test-asan
	$(MAKE) --no-print-directory test-valgrind
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=10

test-asan: ## Build build/asan (Debug, address+undefined sanitizers) and run all ctest tests
	$(CMAKE) -S . -B $(ASAN_DIR) -DCMAKE_BUILD_TYPE=Debug -DKRT_SANITIZE=ON -DKRT_WERROR=$(WERROR)
	$(CMAKE) --build $(ASAN_DIR) -j$(NPROC)
	cd $(ASAN_DIR) && $(CTEST) --output-on-failure -j2

test-valgrind: ## Build build/valgrind (Debug, no sanitizer) and run the unit tests under valgrind
	$(CMAKE) -S . -B $(VALGRIND_DIR) -DCMAKE_BUILD_TYPE=Debug -DKRT_VALGRIND=ON \
	    -DKRT_BUILD_BENCH=OFF -DKRT_WERROR=$(WERROR)
	$(CMAKE) --build $(VALGRIND_DIR) -j$(NPROC)
	cd $(VALGRIND_DIR) && $(CTEST) --output-on-failure -j2 -LE 'install|conformance|integration'

fuzz: deps ## Build the libFuzzer targets with clang and run each for FUZZ_SECONDS (default 60)
	@# -Werror stays off here: the gcc builds gate warnings, clang's differ.
	CC=clang $(CMAKE) -S . -B $(FUZZ_DIR) -DCMAKE_BUILD_TYPE=Debug -DKRT_FUZZ=ON -DKRT_SANITIZE=ON \
	    -DKRT_BUILD_BENCH=OFF -DKRT_WERROR=OFF
	$(CMAKE) --build $(FUZZ_DIR) -j$(NPROC)
	@for f in $(FUZZ_DIR)/tests/fuzz/fuzz_*; do \
	    [ -x "$$f" ] || continue; \
	    name=$$(basename "$$f" | sed 's/^fuzz_//'); \
	    work="$(FUZZ_DIR)/corpus/$$name"; mkdir -p "$$work"; \
	    echo "== fuzz $$name for $(FUZZ_SECONDS)s (new inputs in $$work)"; \
	    "$$f" -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 -artifact_prefix="$(FUZZ_DIR)/" \
	        "$$work" "tests/fuzz/corpus/$$name" 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|Done' ; \
	    test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

bench: build ## Build, then run the benchmarks (bench/run.sh if present, else each bench binary)
	@if [ -f bench/run.sh ]; then \
	    KRT_BUILD_DIR="$(CURDIR)/$(RELEASE_DIR)" bash bench/run.sh; \
	else \
	    found=0; \
	    for b in $(RELEASE_DIR)/bench/*; do \
	        [ -f "$$b" ] && [ -x "$$b" ] || continue; \
	        found=1; echo "== $$b"; "$$b" || exit $$?; \
	    done; \
	    [ $$found = 1 ] || echo "bench: no benchmarks built (bench/*.c)"; \
	fi

install: build ## Build, then install headers, libkrt, krt.pc and the CMake package into PREFIX
	$(CMAKE) --install $(RELEASE_DIR) --prefix $(PREFIX)

clean: ## Remove build/
	rm -rf build
