# mer: the two commands of the quick start are `make demo` and `make test`.
# Both install what they need first (tools/install.sh: a virtual environment in .venv, pinned
# versions, the offline pretrained models under tools/models); a second run skips the install.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export HF_HUB_DISABLE_PROGRESS_BARS := 1
export OMP_NUM_THREADS ?= 2
export MPLBACKEND := Agg
# Python's bytecode caches are written (into .venv and mer/) even where the environment says not to:
# without them every Python start compiles torch's and transformers' sources again (about 3 s).
unexport PYTHONDONTWRITEBYTECODE

SHELL_SCRIPTS = $(shell git ls-files '*.sh' 'egs/*/*/run.sh' 'egs/*/*/local/*.sh' utils/lib/warm_python | sort -u)

.PHONY: install demo test unit lint bench clean-demo

# The end of the demo: mer.bin.pack and the console script mer-recognize (both from .venv).
DEMO_PACK = $(CURDIR)/$(PY) -m mer.bin.pack
DEMO_RECOGNIZE = $(CURDIR)/$(VENV)/bin/mer-recognize

install:
	tools/install.sh --test

## demo: every stage of egs/mini/memocmt (synthetic corpus, real Whisper tiny.en + MiniLM), on CPU
demo: install
	cd egs/mini/memocmt && ./run.sh
	@echo
	@echo "Results: egs/mini/memocmt/RESULTS.md"
	@echo "Plots:   egs/mini/memocmt/exp/fixed/plots_test/ and egs/mini/memocmt/exp/fixed/*/plots/"
	@echo
	@echo "The end product: MemoCMT packed into one archive, run on a test recording outside the recipe:"
	cd egs/mini/memocmt && $(DEMO_PACK) exp/fixed/train_memocmt_faithful_min exp/fixed/train_memocmt_faithful_min/model.tar.gz
	cd egs/mini/memocmt && $(DEMO_RECOGNIZE) --model exp/fixed/train_memocmt_faithful_min/model.tar.gz \
	  --text-file data/fixed/fold1/test/text "$$(head -n 1 data/fixed/fold1/test/wav.scp | cut -d' ' -f2)"

## test: the whole test suite (unit tests, corpus miniatures, the demo recipe and every paper recipe
## through stages 1-6 on a tiny setting) and shellcheck
test: install lint
	$(PY) -m pytest tests -q -p no:cacheprovider -n 2 --dist loadgroup

## unit: the tests that run no whole recipe (pytest -m "not slow"): a maintainer's quick loop
unit: install
	$(PY) -m pytest tests -q -p no:cacheprovider -m "not slow"

lint:
	$(VENV)/bin/shellcheck -x -S warning $(SHELL_SCRIPTS)

## bench: training and feature-dumping throughput on the demo data; with a GPU visible, also the
## GPU benchmark (dump RTF of a HuBERT-base-sized encoder, MemoCMT training with and without AMP)
bench: install
	$(PY) -m mer.bin.bench --recipe egs/mini/memocmt
	@if $(PY) -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then \
	  $(PY) -m mer.bin.bench_gpu; else echo "bench_gpu: no GPU visible, GPU figures not measured"; fi

clean-demo:
	cd egs/mini/memocmt && rm -rf data dump exp RESULTS.md report.html
