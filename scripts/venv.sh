# Sourced by the scripts: makes the virtualenv with the pinned dependencies.
# The virtualenv lives in .venv (override with TFNVP_VENV); it is reinstalled
# when setup.py or requirements/constraints.txt change.
venv="${TFNVP_VENV:-.venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
stamp="$venv/.tfnvp-installed"
if [ ! -f "$stamp" ] || [ setup.py -nt "$stamp" ] || \
   [ requirements/constraints.txt -nt "$stamp" ]; then
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet -c requirements/constraints.txt \
    -e ".[train,serving,test,bench,docs]"
  touch "$stamp"
fi
