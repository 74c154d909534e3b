# The two commands a newcomer needs:  make run  and  make test.
# Each creates the virtual environment and installs what it needs on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TRIALS := $(basename $(notdir $(wildcard dialogs/trials/*.yaml)))
DOMAINS := intake entry $(TRIALS)

.PHONY: run test lint catalogs extract update locale i18n-status

run: $(VENV)/.installed catalogs
	$(BIN)/intake

test: $(VENV)/.installed catalogs
	$(BIN)/pytest -q -n 2  # two workers: the suite waits on processes, browsers and sockets

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Compiled catalogs (.mo) are built here, never edited or committed.
catalogs: $(VENV)/.installed
	@for domain in $(DOMAINS); do \
	  $(BIN)/pybabel compile --domain $$domain --directory locales --statistics 2>&1 \
	    | grep -v '^compiling' || true; \
	done

# Translator workflow: extract -> update -> (translate the .po files) -> catalogs.
extract: $(VENV)/.installed
	$(BIN)/pybabel extract --mapping babel.cfg --keywords N_ --keywords NP_:1,2 --add-comments TRANSLATORS: \
	  --project trial-intake --no-wrap --output locales/intake.pot bot dialogs
	$(BIN)/pybabel extract --mapping babel-entry.cfg --project trial-intake --no-wrap \
	  --output locales/entry.pot dialogs/entry.yaml
	@for trial in $(TRIALS); do \
	  $(BIN)/pybabel extract --mapping babel-trials.cfg --project trial-intake --no-wrap \
	    --output locales/$$trial.pot dialogs/trials/$$trial.yaml; \
	done

# Merges new texts into every catalog; a new trial gets its catalog in every locale.
update: extract
	@for domain in $(DOMAINS); do \
	  for folder in locales/*/LC_MESSAGES; do \
	    locale=$$(basename $$(dirname $$folder)); \
	    if [ -f $$folder/$$domain.po ]; then \
	      $(BIN)/pybabel update --input-file locales/$$domain.pot --output-dir locales \
	        --domain $$domain --locale $$locale --no-wrap --previous; \
	    else \
	      $(BIN)/pybabel init --input-file locales/$$domain.pot --output-dir locales \
	        --domain $$domain --locale $$locale --no-wrap && \
	      sed -i '1a # Medical review: pending' $$folder/$$domain.po; \
	    fi; \
	  done; \
	done

# A new language:  make locale LOCALE=ru
locale: extract
	@test -n "$(LOCALE)" || (echo "usage: make locale LOCALE=ru" && exit 2)
	@for domain in $(DOMAINS); do \
	  $(BIN)/pybabel init --input-file locales/$$domain.pot --output-dir locales \
	    --domain $$domain --locale $(LOCALE) --no-wrap && \
	  sed -i '1a # Medical review: pending' locales/$(LOCALE)/LC_MESSAGES/$$domain.po; \
	done
	test -f locales/$(LOCALE)/answers.yaml || cp locales/en/answers.yaml locales/$(LOCALE)/answers.yaml
	@echo "Now translate locales/$(LOCALE)/LC_MESSAGES/*.po and locales/$(LOCALE)/answers.yaml,"
	@echo "then add $(LOCALE) to locales/LINGUAS to offer it."
