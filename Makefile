# aimc-dse pipelines. Every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: install lock run test lint bench paper validate docs-check clean

# Dependencies at the versions CI last passed with (constraints.txt; CONSTRAINTS= for the latest
# releases pyproject.toml allows).
CONSTRAINTS ?= constraints.txt

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,plot,lint]" $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
	touch $(STAMP)

install: $(STAMP)

# Refresh constraints.txt: the latest releases pyproject.toml allows, installed into a scratch
# environment and frozen. Run .ci/run afterwards: the file should hold what passed.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet --upgrade pip
	.venv-lock/bin/python -m pip install --quiet -e ".[test,plot,lint]"
	{ sed -n '/^#/p' constraints.txt; .venv-lock/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .venv-lock

# The default study: two 3D AIMC chips vs an A100 on a MoE (seconds); prints its summary table.
run: $(STAMP)
	$(BIN)/aimc-dse sweep sweeps/default.yaml -o results/default.csv --force -j $(JOBS)

test: $(STAMP)
	$(BIN)/python -m pytest

# ruff (with a complexity limit) on the package and tests, mypy on the cost model and the specs,
# and the import-layer contract (specs <- moe <- cost/experts <- sim <- report <- sweep/validation <- api <- commands <- cli).
lint: $(STAMP)
	$(BIN)/ruff check aimc_dse tests
	$(BIN)/mypy
	$(BIN)/lint-imports

# Sweeps end to end on a 1,000,000-point mixed grid: points per CPU- and wall-second on one core and
# on $(JOBS) cores, CPU by phase, peak memory, start-up, default CSV size, the AIMC cost model alone, the
# event mode (docs/sweeps.md); the load average is printed beside the numbers.
bench: $(STAMP)
	$(BIN)/python -m aimc_dse.sweep.bench --jobs $(JOBS)

# Büchel et al. and Gao & Yang's studies: sweeps/*.yaml -> results/*.csv, *.png, ratio tables (seconds).
paper: $(STAMP)
	$(BIN)/python -m aimc_dse.sweep.paper --jobs $(JOBS) --sweeps sweeps --out results

validate: $(STAMP)
	$(BIN)/aimc-dse validate

# Every command README.md shows runs, its quoted numbers match the model, and the Python example runs.
docs-check: $(STAMP)
	$(BIN)/python -m pytest -q tests/test_readme.py tests/test_cli_ux.py::test_example_script_runs

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
