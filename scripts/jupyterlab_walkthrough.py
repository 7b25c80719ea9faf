"""Step through notebooks in JupyterLab as a user does, in headless Chromium, and check what a user would see.

    python scripts/jupyterlab_walkthrough.py                  # notebooks 00 and 02 at smoke
    python scripts/jupyterlab_walkthrough.py --notebooks 00 --profile quick --out build/walkthrough

Starts JupyterLab on this repository with UNLEARNLIB_PROFILE set (the one way a hand run picks a profile without
editing the committed notebook) and a private cache, opens each notebook in Chromium (the Debian package,
/usr/bin/chromium, driven by playwright: `pip install playwright`; no browser download), runs every cell from the
Run menu (starting from the committed notebook: a notebook whose source differs from it stops the script), waits
for the kernel, saves the notebook (Ctrl+S, as autosave would), scrolls through it taking screenshots,
and reports per notebook:

- errors: cells that raised;
- stderr boxes: red output areas (e.g. a warning, or an empty box a finished text progress bar leaves);
- git status: whether the committed notebook reads as changed after the save (with the nbstripout filter installed,
  `nbstripout --install --attributes .gitattributes`, outputs and the kernel's metadata are filtered out).

Screenshots go to <out>/<notebook>-NN.png and the report to <out>/report.json. The exit status is non-zero when a
notebook raised, showed a stderr box or left git status unclean.
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(port: int, token: str, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}", "--allow-root",
           f"--config={ROOT / 'jupyter_server_config.py'}"]  # the post-save hook, as the README starts JupyterLab
    return subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_for(url: str, seconds: float = 60) -> None:
    import urllib.request

    end = time.time() + seconds
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit(f"JupyterLab did not answer at {url} within {seconds} s")


def step_through(page, base: str, token: str, nb: Path, out: Path, timeout_s: float) -> dict:
    rel = nb.relative_to(ROOT).as_posix()
    # a workspace of its own: no tab of another notebook restored beside it
    page.goto(f"{base}/lab/workspaces/walk-{nb.stem}/tree/{rel}?reset&token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    news = page.locator(".jp-toast-button:text-is('No')")  # JupyterLab's "notified about news?" toast
    if news.count():
        news.first.click()
    def run_all():  # Kernel > Restart Kernel and Run All Cells: runs once the (fresh) kernel is ready
        page.click(".lm-MenuBar-itemLabel:text-is('Kernel')")
        page.click(".lm-Menu-itemLabel:has-text('Restart Kernel and Run All Cells')")
        page.click(".jp-Dialog-button.jp-mod-accept")

    run_all()
    start, retried = time.time(), False
    while time.time() - start < timeout_s:  # every code cell run: each prompt numbered, none waiting, kernel idle
        done = page.evaluate("""() => {
            const prompts = [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent.trim());
            const ind = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook-ExecutionIndicator');
            return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p)) && ind && ind.dataset.status === 'idle';
        }""")
        if done:
            break
        started = page.evaluate("() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')]"
                                ".some(p => /[*\\d]/.test(p.textContent))")
        if not started and not retried and time.time() - start > 30:  # the click came before the kernel was ready
            run_all()
            retried = True
        if os.environ.get("WALKTHROUGH_DEBUG"):
            print(page.evaluate("() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt')].map(p => p.textContent)"))
        time.sleep(2)
    else:
        page.screenshot(path=str(out / f"{nb.stem}-timeout.png"))
        raise SystemExit(f"{rel}: still running after {timeout_s} s (screenshot {nb.stem}-timeout.png)")
    seconds = round(time.time() - start, 1)
    page.keyboard.press("Control+s")
    time.sleep(2)
    shots, stderr, errors = [], 0, 0
    panel = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer"
    height = page.evaluate(f"document.querySelector('{panel}').scrollHeight")
    view = page.evaluate(f"document.querySelector('{panel}').clientHeight")
    seen_err, seen_red = set(), set()
    for i, top in enumerate(range(0, max(height, 1), max(view - 80, 200))):
        page.evaluate(f"document.querySelector('{panel}').scrollTop = {top}")
        time.sleep(0.6)
        shot = out / f"{nb.stem}-{i:02d}.png"
        page.screenshot(path=str(shot))
        shots.append(shot.relative_to(ROOT).as_posix() if shot.is_relative_to(ROOT) else str(shot))
        found = page.evaluate("""() => {
            const cells = [...document.querySelectorAll('.jp-Notebook .jp-Cell')];
            const idx = c => cells.indexOf(c.closest('.jp-Cell'));
            return {
              red: [...document.querySelectorAll(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")].map(idx),
              err: [...document.querySelectorAll(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")].map(idx),
            };
        }""")
        seen_red |= set(found["red"])
        seen_err |= set(found["err"])
    stderr, errors = len(seen_red), len(seen_err)
    status = subprocess.run(["git", "status", "--porcelain", "--", rel], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    return {"notebook": rel, "seconds": seconds, "cells_with_errors": sorted(seen_err),
            "cells_with_stderr_boxes": sorted(seen_red), "git_status": status or "clean", "screenshots": shots,
            "ok": not errors and not stderr and not status}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--notebooks", nargs="+", default=["00", "02"], metavar="NN")
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("--out", default=str(ROOT / "build" / "walkthrough"))
    ap.add_argument("--timeout", type=float, default=600, help="seconds per notebook")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} not found: install the Debian package (apt-get install chromium)")
    notebooks = [next((ROOT / "notebooks").glob(f"{n}_*.ipynb")) for n in args.notebooks]
    for nb in notebooks:  # start from the committed notebook, as a fresh clone does (an earlier walk saved outputs)
        rel = nb.relative_to(ROOT).as_posix()
        committed = subprocess.run(["git", "show", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, check=True).stdout
        filtered = subprocess.run(["git", "hash-object", f"--path={rel}", rel], cwd=ROOT, capture_output=True,
                                  text=True).stdout.strip()
        head = subprocess.run(["git", "rev-parse", f"HEAD:{rel}"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
        if filtered != head:
            raise SystemExit(f"{rel} has changes of its own (not only outputs): commit or stash them first")
        nb.write_bytes(committed)
    before = {nb: nb.read_bytes() for nb in notebooks}
    out = Path(args.out).resolve()
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cache = Path(tempfile.mkdtemp(prefix="walkthrough-cache-"))
    env = {**os.environ, "UNLEARNLIB_PROFILE": args.profile, "UNLEARNLIB_CACHE": str(cache),
           "JUPYTER_CONFIG_DIR": str(cache / "jupyter-config"), "JUPYTERLAB_WORKSPACES_DIR": str(cache / "workspaces")}
    port, token = free_port(), secrets.token_hex(16)
    lab = start_lab(port, token, env)
    base = f"http://127.0.0.1:{port}"
    report = []
    try:
        wait_for(f"{base}/api?token={token}")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
            for nb in notebooks:  # a page of its own per notebook, as a user opening it afresh
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                r = step_through(page, base, token, nb, out, args.timeout)
                page.close()
                print(json.dumps({k: v for k, v in r.items() if k != "screenshots"}), flush=True)
                report.append(r)
            browser.close()
    finally:
        lab.terminate()
        lab.wait(timeout=30)
        shutil.rmtree(cache, ignore_errors=True)
    (out / "report.json").write_text(json.dumps({"profile": args.profile, "notebooks": report}, indent=1) + "\n")
    changed = [nb.name for nb in notebooks if nb.read_bytes() != before[nb]]
    print(f"screenshots and report.json in {out}; notebooks whose file the save changed on disk: {changed or 'none'}")
    return 0 if all(r["ok"] for r in report) else 1


if __name__ == "__main__":
    raise SystemExit(main())
