PYTHON ?= python3

.PHONY: demo test setup

# The two commands of the README: see dev.py (works without make, on Windows too).
demo:
	$(PYTHON) dev.py demo

test:
	$(PYTHON) dev.py test

setup:
	$(PYTHON) dev.py setup
