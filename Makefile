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

# curl fetches data (`hf data download`); python3 serves the loopback mirror of its tests.
# Open MPI (libopenmpi-dev for the CMPI module, openmpi-bin for mpirun) is for data-parallel
# training (`mpirun -np P hf train ...`) and its tests.
deps:
	@if ! pkg-config --exists openblas zlib ompi-c 2>/dev/null || ! command -v mpirun >/dev/null \
	    || ! command -v curl >/dev/null || ! command -v python3 >/dev/null; then \
	  echo "Installing libopenblas-dev, zlib1g-dev, libopenmpi-dev, openmpi-bin, pkg-config, curl and python3 (apt-get)..."; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq libopenblas-dev zlib1g-dev libopenmpi-dev openmpi-bin \
	    pkg-config curl ca-certificates python3 >/dev/null; \
	fi
	@pkg-config --exists openblas zlib ompi-c || { echo "error: OpenBLAS/zlib/Open MPI still missing (pkg-config openblas zlib ompi-c)"; exit 1; }
	@command -v mpirun >/dev/null || { echo "error: mpirun still missing (openmpi-bin)"; exit 1; }
	@command -v curl >/dev/null || { echo "error: curl still missing"; exit 1; }

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
# builds run numeric loops 10-100x slower. They run with the BLAS core hf itself would force
# (`hf blas --forced-core`: empty when OpenBLAS's own choice is kept or OPENBLAS_CORETYPE is
# already set), since a test process cannot restart itself with a better one. One build
# (`--build-tests`, the plan `swift test` uses) gives both hf and the tests.
test: deps
	$(SWIFT) build -c $(CONFIG) -Xswiftc -enable-testing --build-tests
	@core=$$($$($(SWIFT) build -c $(CONFIG) --show-bin-path)/hf blas --forced-core) || exit 1; \
	if [ -n "$$core" ]; then echo "tests run with OPENBLAS_CORETYPE=$$core"; export OPENBLAS_CORETYPE=$$core; fi; \
	HF_DATA_DIR=$${HF_DATA_DIR:-$(DATA_DIR)} $(SWIFT) test -c $(CONFIG) -Xswiftc -enable-testing --skip-build

clean:
	rm -rf .build
