# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv, installs the project into it, then runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test check bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[demo,test]'
	touch $@

# demo/ and testsupport/ are not in the wheel: `dxmon demo` finds them in this checkout
demo: $(BIN)/.installed
	$(BIN)/dxmon demo

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

# realworld.py reads other people's pages and texts from a folder outside the repository
# (built by benchmarks/realworld_collect.py): it runs when DXMON_REALWORLD names it.
# scale.py builds archives up to 1M articles (most of an hour): run it on its own
bench: $(BIN)/.installed
	for b in benchmarks/*.py; do case $$b in *realworld*|*scale*) continue;; esac; \
		$(BIN)/python $$b || exit 1; done
	if [ -n "$$DXMON_REALWORLD" ]; then $(BIN)/python benchmarks/realworld.py; fi

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
