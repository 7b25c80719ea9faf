"""JupyterLab started from this folder: after a notebook is saved, tell git it is unchanged when only what the
nbstripout filter removes changed (outputs, execution counts, the kernel's Python version: .gitattributes).

Git reads a file whose size changed as modified without looking through its clean filter, so without this a notebook
stepped through and saved would show in `git status` although `git diff` is empty. The hook re-stages a notebook only
when its filtered content equals the index's (so nothing changes but git's record of the file's size and time); a
real edit stays a modification. Nothing happens where the filter is not configured (scripts/git_filters.sh).
"""
import subprocess
from pathlib import Path


def refresh_git_index(model, os_path, contents_manager, **kwargs):
    if model.get("type") != "notebook":
        return
    path = Path(os_path)

    def git(*args):
        return subprocess.run(["git", *args], cwd=path.parent, capture_output=True, text=True, timeout=30)

    if git("config", "--get", "filter.nbstripout.clean").returncode != 0:
        return
    staged = git("ls-files", "-s", "--", path.name).stdout.split()
    if len(staged) < 2:
        return  # not tracked
    filtered = git("hash-object", f"--path={path.name}", "--", path.name).stdout.strip()
    if filtered == staged[1]:
        git("add", "--", path.name)


c.FileContentsManager.post_save_hook = refresh_git_index  # noqa: F821 - `c` is the config Jupyter passes in
