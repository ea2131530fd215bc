# The two commands of the README: `make demo` (the main job) and `make test`.
.PHONY: setup demo test
setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/waveglow demo

test: setup
	.venv/bin/python -m pytest -q
