# Two entry points: `make demo` (set up, then run the main job on the embedded default)
# and `make test` (set up, then run the test suite). Both create ./.venv on first use.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
DEMO_OUT ?= outputs/demo
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# MediaPipe 0.10.14 (the last release with the bundled pose models of mp.solutions) needs
# protobuf < 5, which the training stack cannot use: it lives in an overlay environment that
# sees every package of $(VENV) but its own protobuf. It serves the `lite` annotators.
LITE := $(VENV)-lite
LITE_PKGS := mediapipe==0.10.14 protobuf==4.25.9 flatbuffers==25.12.19 sounddevice==0.5.6 cffi==2.1.1 \
	pycparser==3.12 matplotlib==3.11.2 contourpy==1.3.3 cycler==0.12.1 fonttools==4.68.0 kiwisolver==1.5.1 pyparsing==3.3.3

.PHONY: setup demo test clean

setup: $(VENV)/.installed $(LITE)/.installed

# torch goes in first: sam2 builds against the installed torch (no build isolation, so pip
# does not fetch a second torch); its optional CUDA extension is skipped.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q $(TORCH_SPEC)
	SAM2_BUILD_CUDA=0 $(PIP) install -q --no-build-isolation "sam2>=1.1.0"
	$(PIP) install -q -e ".[all,dev]"
	touch $@

$(LITE)/.installed: $(VENV)/.installed
	$(PYTHON) -m venv $(LITE)
	$(PY) -c "import site; print(site.getsitepackages()[0])" > "$$($(LITE)/bin/python -c 'import site; print(site.getsitepackages()[0])')/zz_main_venv.pth"
	$(LITE)/bin/python -m pip install -q --no-deps $(LITE_PKGS)
	touch $@

demo: setup
	$(VENV)/bin/aa2 demo --out $(DEMO_OUT)

test: setup
	$(PY) -m pytest -q tests
	$(LITE)/bin/python -m pytest -q tests/preprocess/test_pipeline_lite.py

clean:
	rm -rf $(VENV) $(LITE) outputs
