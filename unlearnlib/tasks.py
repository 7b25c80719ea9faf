"""Independent jobs (shadow models, sweep grid points) run in this process, or as Ray tasks on a cluster.

    results = run_tasks(job_fn, jobs)                      # in-process, in order
    results = run_tasks(job_fn, jobs, address="auto")      # Ray: an address, "auto", or "local" (a local instance)

Without an address, RAY_ADDRESS decides (unset: in-process). Ray is an optional extra
(`pip install -e .[ray]`); asking for it without it installed is an error that says so. There is no pool
or queue of our own: Ray schedules the tasks, and each task is a plain function of a picklable job, so its
result (and what it caches) is the same whichever runs it. Jobs fix their own torch thread count (the
float reductions, and so the trained models, depend on it).
"""
from __future__ import annotations

import os
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, TypeVar

J = TypeVar("J")
R = TypeVar("R")


def ray_address(address: str | None = None) -> str | None:
    """The Ray address to use: `address`, else RAY_ADDRESS, else None (in-process)."""
    return address or os.environ.get("RAY_ADDRESS") or None


def run_tasks(fn: Callable[[J], R], jobs: Iterable[J], address: str | None = None,
              num_cpus: float = 1, num_gpus: float = 0, on_result: Callable[[int, R], None] | None = None,
              progress: bool = False) -> list[R]:
    """fn(job) for every job, in-process or as Ray tasks (see the module docstring); results in job order.

    num_cpus, num_gpus: what Ray reserves per task (a job on "cuda" needs num_gpus > 0, or Ray hides the GPUs from
    its worker; a fraction shares one GPU between tasks). on_result(i, result): called as each result arrives (in-process: in
    order; Ray: as tasks finish). progress: print a line per finished job."""
    jobs = list(jobs)
    address = ray_address(address)
    if progress:
        start, user = time.perf_counter(), on_result

        def on_result(i, r):
            print(f"job {i + 1}/{len(jobs)} done ({time.perf_counter() - start:.0f} s)", flush=True)
            if user is not None:
                user(i, r)
    if address is None:
        out = []
        for i, job in enumerate(jobs):
            out.append(fn(job))
            if on_result is not None:
                on_result(i, out[-1])
        return out
    try:
        import ray
    except ImportError:
        raise RuntimeError(f"Ray address {address!r} given (argument or RAY_ADDRESS) but Ray is not installed; "
                           "install the extra with `pip install -e .[ray]`, or unset RAY_ADDRESS to run in-process") from None
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    remote = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus)(fn)
    refs = [remote.remote(job) for job in jobs]
    index = {ref: i for i, ref in enumerate(refs)}
    out: list = [None] * len(refs)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        i = index[done[0]]
        out[i] = ray.get(done[0])
        if on_result is not None:
            on_result(i, out[i])
    return out


# ---------------------------------------------------------------- notebook invocations (run_all)

@contextmanager
def environment(values: dict):
    """These environment variables set inside the block (the kernels and processes started there inherit them),
    each restored afterwards to what it was, or removed where it was unset."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def stderr_to(path: Path):
    """Send this process's stderr (and a kernel's, which inherits it) to `path` inside the block: the kernel's
    transport warnings and papermill's cell bar go to a log, not the terminal."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as f:
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


@dataclass(frozen=True)
class NotebookJob:
    """One notebook invocation of run_all: the notebook `notebook` executed by papermill into the folder `staging`
    with `params` injected and its kernel in `cwd`; `env`: what the kernel must see besides this process's
    environment (run_all's row store, UNLEARNLIB_STORE, and the driver's UNLEARNLIB_* and TQDM_* variables, so a
    Ray worker's kernel uses the same data, cache, store and commit as a run in the driver)."""
    notebook: str
    staging: str
    params: dict
    cwd: str
    env: dict = field(default_factory=dict)


def execute_notebook(job: NotebookJob) -> str:
    """Execute `job`; return "" when it ran to the end, else what failed ("cell 7: ValueError: ..."). The kernel's
    own messages go to <staging>/kernel.log. Nothing is published: run_all publishes under the folder's lock."""
    import papermill as pm

    staging = Path(job.staging)
    staging.mkdir(parents=True, exist_ok=True)
    try:
        with environment(job.env), stderr_to(staging / "kernel.log"):
            pm.execute_notebook(job.notebook, str(staging / Path(job.notebook).name), parameters=job.params,
                                cwd=job.cwd, progress_bar=False, kernel_name="python3")
        return ""
    except pm.PapermillExecutionError as exc:
        return f"cell {exc.exec_count}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # noqa: BLE001 - a kernel or papermill failure is reported, not raised
        return f"{type(exc).__name__}: {exc}"
