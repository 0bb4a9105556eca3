# Two entry points: `make demo` (set up, then run the main job on the embedded default)
# and `make test` (set up, then run the test suite). Both create ./.venv on first use.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
DEMO_OUT ?= outputs/demo
PY := $(VENV)/bin/python
PIP := $(PY) -m pip

.PHONY: setup demo test clean

setup: $(VENV)/.installed

# torch goes in first: sam2 builds against the installed torch (no build isolation, so pip
# does not fetch a second torch); its optional CUDA extension is skipped.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q $(TORCH_SPEC)
	SAM2_BUILD_CUDA=0 $(PIP) install -q --no-build-isolation "sam2>=1.1.0"
	$(PIP) install -q -e ".[all,dev]"
	touch $@

demo: setup
	$(VENV)/bin/aa2 demo --out $(DEMO_OUT)

test: setup
	$(PY) -m pytest -q tests

clean:
	rm -rf $(VENV) outputs
