# flask-uwsgi: the template's own commands. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR := build/demo
DEMO_PORT ?= 8000
# The scripts run the template's helpers with the virtualenv's python.
export PATH := $(CURDIR)/$(BIN):$(PATH)
# The base images the tests, the demo and the bench build FROM, as PYTHON_IMAGE=...
# lines: the official images where a registry answers, else this machine's stand-ins.
BASE_IMAGES := set -a && eval "$$(machine/base-images.sh)" && set +a

.PHONY: help setup demo demo-down base-images test test-fast lint lock clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 16

$(BIN)/cookiecutter: requirements.txt
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install --quiet --disable-pip-version-check --requirement requirements.txt
	@touch $@

setup: $(BIN)/cookiecutter ## the virtualenv, Debian packages, a Docker engine with Compose v2
	@machine/host-packages.sh
	@machine/docker-engine.sh

base-images: setup ## print PYTHON_IMAGE=, NGINX_IMAGE= and POSTGRES_IMAGE=, building local stand-ins when no registry answers
	@machine/base-images.sh

demo: setup ## bake with the defaults, build, start and wait until healthy, print the URL
	$(BIN)/cookiecutter --no-input --overwrite-if-exists --output-dir $(DEMO_DIR) .
	$(BASE_IMAGES) && cd $(DEMO_DIR)/flask_service \
		&& BIND_ADDRESS=127.0.0.1 HTTP_PORT=$(DEMO_PORT) docker compose --project-name flask-uwsgi-demo \
			up --build --detach --wait --wait-timeout 180
	@echo "The demo answers at http://127.0.0.1:$(DEMO_PORT)/ (stop it with: make demo-down)"

demo-down: ## stop the demo and remove its containers, volumes and images
	cd $(DEMO_DIR)/flask_service && docker compose --project-name flask-uwsgi-demo down --volumes --rmi local

# Test modules run on this many workers at once, each module whole on one worker (its
# stack started once): the Docker tests mostly wait on containers, the bake tests on the CPU.
TEST_WORKERS ?= 2

test: setup ## every test, Docker included (CI runs this)
	$(BASE_IMAGES) && $(BIN)/pytest --numprocesses $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

test-fast: $(BIN)/cookiecutter ## the inner loop: bake and read every combination, no processes or Docker
	$(BIN)/pytest tests/bake -x -q --numprocesses $(TEST_WORKERS) --dist loadfile

lint: $(BIN)/cookiecutter ## ruff on the template's own Python (hooks, tests, bench, machine)
	$(BIN)/ruff check hooks tests bench machine
	$(BIN)/ruff format --check hooks tests bench machine

# One lock per database answer, and per database and worker answer (none-rq.txt): a
# project pins only the packages it installs. --allow-unsafe: pip and setuptools are
# pinned too (with hashes), as a project's make lock does. A new lock starts from its database's
# pins, so the packages they share keep the same versions.
LOCK_DIR := build/lock
LOCKS := templates/requirements
PIP_COMPILE := pip-compile --no-config --quiet --no-header --strip-extras --no-emit-index-url --no-emit-find-links \
	--allow-unsafe
DATABASES = $(shell $(BIN)/python -c 'from hooks.answers import choices; print(*choices("database"))')
WORKERS = $(shell $(BIN)/python -c 'from hooks.answers import choices; print(*choices("worker"))')

lock: $(BIN)/cookiecutter ## re-pin the generated project's requirements, for each database and worker answer (needs pip-tools)
	$(BIN)/pip install --quiet pip-tools
	set -e; for database in $(DATABASES); do for worker in $(WORKERS); do \
		name=$$database; [ $$worker = none ] || name=$$database-$$worker; \
		[ -f $(LOCKS)/$$name.txt ] || cp $(LOCKS)/$$database.txt $(LOCKS)/$$name.txt; \
		[ -f $(LOCKS)/dev-$$name.txt ] || cp $(LOCKS)/dev-$$database.txt $(LOCKS)/dev-$$name.txt; \
		rm -rf $(LOCK_DIR)/$$name; \
		$(BIN)/cookiecutter --no-input --output-dir $(LOCK_DIR)/$$name . database=$$database worker=$$worker; \
		project=$(LOCK_DIR)/$$name/flask_service; \
		(cd $$project && $(PIP_COMPILE) --generate-hashes -o requirements.txt requirements.in \
			&& $(PIP_COMPILE) -o requirements-dev.txt requirements-dev.in); \
		cp $$project/requirements.txt $(LOCKS)/$$name.txt; \
		cp $$project/requirements-dev.txt $(LOCKS)/dev-$$name.txt; \
	done; done

.PHONY: bench
bench: setup ## measure every shape against the alternatives and on real pages (about an hour); results in bench/results/
	$(BASE_IMAGES) && $(BIN)/python -m bench

clean: ## remove the virtualenv and build output
	rm -rf $(VENV) build .pytest_cache .ruff_cache
