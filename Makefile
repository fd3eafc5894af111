# The two commands: `make dev` and `make test` (`make unit` runs the tests that
# need no server alone). Everything they need is installed by the targets below
# and cached (.venv here, Go builds under ~/.cache/scaivault-federation), so a
# second run starts at once.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# The product and, beside it, the development environment (devenv/): both editable.
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml devenv/pyproject.toml | sha256sum | cut -c1-12)
STATE_DIR ?= .state/dev

.PHONY: all dev dev-node test unit bench lint typecheck controlplane node tools image render-deploy \
  lock e2e-kind clean

all: test

$(STAMP): pyproject.toml devenv/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]' -e ./devenv
	rm -f $(VENV)/.installed-* && touch $@

controlplane:
	@hack/build-controlplane.sh >/dev/null

# kubelet, kube-controller-manager, kube-scheduler, kube-proxy, a cluster DNS and
# pause for the real-node tests, and the Debian packages a node needs.
node:
	@hack/build-node.sh >/dev/null

tools:
	@hack/build-tools.sh >/dev/null
	@hack/build-promtool.sh >/dev/null

# The operator image as an OCI archive, without Docker (prints IMAGE=, ARCHIVE=, ...).
image:
	@hack/build-image.sh

render-deploy: $(STAMP) tools
	SCAIVAULT_HELM=$$(hack/build-tools.sh) hack/render-deploy.sh

lock:
	hack/lock-requirements.sh

e2e-kind: tools
	HELM=$$(hack/build-tools.sh)/helm hack/e2e-kind.sh

# `make dev NODE=1`: the chart on a real local node instead (root; see README).
ifeq ($(NODE),1)
dev: dev-node
else
dev: $(STAMP) controlplane
	SCAIVAULT_CONTROLPLANE_BIN=$$(hack/build-controlplane.sh) $(BIN)/scaivault-federation dev --state-dir $(STATE_DIR)
endif

dev-node: $(STAMP) controlplane tools node
	SCAIVAULT_CONTROLPLANE_BIN=$$(hack/build-controlplane.sh) SCAIVAULT_HELM=$$(hack/build-tools.sh) \
	  SCAIVAULT_NODE_BIN=$$(hack/build-node.sh) $(BIN)/scaivault-federation dev-node

lint: $(STAMP)
	$(BIN)/ruff check operator devenv tests benchmarks
	$(BIN)/ruff format --check operator devenv tests benchmarks
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy --strict
	$(BIN)/mypy --strict tests benchmarks

bench: $(STAMP) controlplane
	SCAIVAULT_CONTROLPLANE_BIN=$$(hack/build-controlplane.sh) $(BIN)/python benchmarks/sync_cost.py
	SCAIVAULT_CONTROLPLANE_BIN=$$(hack/build-controlplane.sh) $(BIN)/python benchmarks/many_backends.py
	SCAIVAULT_CONTROLPLANE_BIN=$$(hack/build-controlplane.sh) $(BIN)/python benchmarks/scale.py
	SCAIVAULT_CONTROLPLANE_BIN=$$(hack/build-controlplane.sh) $(BIN)/python benchmarks/hostile_template_read.py

# The tests that need no server: nothing is built or started (tests/unit starts
# no process at all; tests/packaging only builds and installs the wheel).
unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/packaging

test: $(STAMP) controlplane tools node lint typecheck
	SCAIVAULT_CONTROLPLANE_BIN=$$(hack/build-controlplane.sh) SCAIVAULT_HELM=$$(hack/build-tools.sh) \
	  SCAIVAULT_PROMTOOL=$$(hack/build-promtool.sh) SCAIVAULT_NODE_BIN=$$(hack/build-node.sh) $(BIN)/pytest

clean:
	rm -rf $(VENV) .state .mypy_cache .pytest_cache .ruff_cache
