# The two commands of the README's quick start:
#   make demo   the main job (a real training run on generated data, no downloads)
#   make test   the whole test suite (what CI runs)
# Both install the system packages they need when missing (Debian: apt-get).

SWIFT ?= swift
CONFIG ?= release
DATA_DIR ?= $(abspath ../shared/data)
# Extra arguments for `hf demo`, e.g. make demo DEMO_ARGS="--seconds 60"
DEMO_ARGS ?=

.PHONY: deps build demo test bench bench-mpi clean

# Open MPI (libopenmpi-dev for the CMPI module, openmpi-bin for mpirun) is for data-parallel
# training (`mpirun -np P hf train ...`) and its tests.
deps:
	@if ! pkg-config --exists openblas zlib ompi-c 2>/dev/null || ! command -v mpirun >/dev/null; then \
	  echo "Installing libopenblas-dev, zlib1g-dev, libopenmpi-dev, openmpi-bin and pkg-config (apt-get)..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev libopenmpi-dev openmpi-bin pkg-config >/dev/null; \
	fi
	@pkg-config --exists openblas zlib ompi-c || { echo "error: OpenBLAS/zlib/Open MPI still missing (pkg-config openblas zlib ompi-c)"; exit 1; }
	@command -v mpirun >/dev/null || { echo "error: mpirun still missing (openmpi-bin)"; exit 1; }

build: deps
	$(SWIFT) build -c $(CONFIG) --product hf

demo: build
	HF_DATA_DIR=$${HF_DATA_DIR:-$(DATA_DIR)} $$($(SWIFT) build -c $(CONFIG) --show-bin-path)/hf demo $(DEMO_ARGS)

bench: build
	$$($(SWIFT) build -c $(CONFIG) --show-bin-path)/hf bench

# Data-parallel efficiency, 2 ranks x 1 thread against 1 rank (docs/scaling.md); idle machine.
bench-mpi: build
	mpirun $$( [ "$$(id -u)" = 0 ] && echo --allow-run-as-root ) -np 2 \
	  $$($(SWIFT) build -c $(CONFIG) --show-bin-path)/hf bench-mpi --json

# Tests run in release: the integration tests train real (small) networks, and Swift debug
# builds run numeric loops 10-100x slower.
test: deps
	HF_DATA_DIR=$${HF_DATA_DIR:-$(DATA_DIR)} $(SWIFT) test -c $(CONFIG) -Xswiftc -enable-testing

clean:
	rm -rf .build
