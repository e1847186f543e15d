# Two commands do everything from nothing: `make demo` (the Keras tutorial's run) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo quick test test-slow bench clean venv

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev,onnx,mlflow]'
	touch $(STAMP)

demo: $(STAMP)          ## the tutorial: MNIST, 784-32-784, adadelta, 100 epochs -> runs/tutorial
	$(VENV)/bin/aekit train --out runs/tutorial --overwrite $(ARGS)
	@echo "aekit is installed in $(VENV)/, not in your shell: '. $(VENV)/bin/activate' puts it on the PATH"

venv: $(STAMP)          ## only the environment: .venv/ with aekit and the pinned packages (then `. .venv/bin/activate`)

quick: $(STAMP)         ## a first look: 5 epochs on 10,000 images -> runs/quick
	$(VENV)/bin/aekit train --quick --out runs/quick --overwrite $(ARGS)

test: $(STAMP)          ## the test suite (CPU, a few minutes; two workers)
	$(PY) -m pytest -q -n 2 -m "not slow" $(ARGS)

test-slow: $(STAMP)     ## also the MNIST-scale tests
	$(PY) -m pytest -q $(ARGS)

clean:
	rm -rf $(VENV) runs .pytest_cache .hypothesis
