#!/bin/sh
# Configure this clone's git to read committed notebooks without their outputs (nbstripout, a dependency):
# .gitattributes names notebooks/*.ipynb; a notebook run and saved in JupyterLab then reads as unchanged, and a
# run's provenance (results.git_commit) is not marked +dirty by it. Run once per clone: sh scripts/git_filters.sh
set -e
# the interpreter of the environment this runs in (where nbstripout is installed), as nbstripout --install records it
PY=$(python -c 'import sys; print(sys.executable)')
python -c 'import nbstripout' || { echo "nbstripout is not installed in $PY: pip install nbstripout" >&2; exit 1; }
git config filter.nbstripout.clean "\"$PY\" -m nbstripout"
git config filter.nbstripout.smudge cat
git config filter.nbstripout.required true
git config filter.nbstripout.extrakeys "metadata.language_info.version"
git config diff.ipynb.textconv "\"$PY\" -m nbstripout -t"
echo "nbstripout filter configured for notebooks/*.ipynb"
