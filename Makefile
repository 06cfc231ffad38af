# Set-up and everyday commands. `make run` and `make test` set everything up on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
SHARED_DATA ?= ../shared/data/fashion-mnist
KERAS_DATA := $(or $(KERAS_HOME),$(HOME)/.keras)/datasets/fashion-mnist

.PHONY: setup system data run test test-all

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Python packages (the project itself, editable, with the test tools and Optuna's GP sampler).
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,gp]'
	touch $@

setup: $(VENV)/.installed data

# Debian packages the browser and PostgreSQL tests need (as root, or with sudo).
system:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver postgresql; \
	fi

# Offline machines: seed Keras' cache with a local copy of Fashion-MNIST (elsewhere Keras downloads it).
data:
	@if [ -d "$(SHARED_DATA)" ] && [ ! -f "$(KERAS_DATA)/train-images-idx3-ubyte.gz" ]; then \
	  mkdir -p "$(KERAS_DATA)" && cp "$(SHARED_DATA)"/*.gz "$(KERAS_DATA)"/ && echo "copied Fashion-MNIST into $(KERAS_DATA)"; \
	fi

# The main job: 20 minutes for a search of the cnn family, starting from the documents' CNNs, then the ensemble of its best models (ARGS replaces the options; no --refit: the simulator's verdict, docs/benchmarks.md).
run: ARGS ?= --timeout 20m --enqueue-presets --ensemble 5
run: setup
	$(BIN)/python -m search.run --study cnn $(ARGS)

test: setup system
	$(BIN)/python -m pytest $(ARGS)
