"""The Ray runners against one local Ray instance, started once for this file (a start costs about 17 s here):
per-example shadows (`run_tasks`), a sweep (`sweep --ray`) and run_all's notebook invocations (`run_all --ray`).
Skipped without the ray extra (pip install -e .[ray])."""
import importlib.util
import json
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="the ray extra is not installed (pip install -e .[ray])")

from test_per_example import shadow_setup  # noqa: E402
from test_run_all import SEED_DEMO, SeedDemoConfig, _notebook, demo, demo_room, papers, run_all  # noqa: E402,F401


@pytest.fixture(scope="module")
def ray_cache(tmp_path_factory):
    """A local Ray instance for the module; its workers inherit a cache folder of their own (empty at start), so
    whatever they return was computed there, not read from the tests' cache."""
    import ray

    cache = tmp_path_factory.mktemp("ray-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNLEARNLIB_CACHE", str(cache))  # the workers start with the driver's environment
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    yield cache
    ray.shutdown()


def test_shadows_on_a_local_ray_instance_match_the_in_process_ones(ray_cache, tmp_path, monkeypatch):
    from unlearnlib.tasks import run_tasks
    from unlearnlib.unlearned_shadows import run_shadow_job

    _, _, jobs = shadow_setup(n_shadows=2)
    monkeypatch.setenv("UNLEARNLIB_CACHE", str(tmp_path / "here"))
    here = run_tasks(run_shadow_job, jobs)
    there = run_tasks(run_shadow_job, jobs, address="local")  # the instance the fixture started
    for a, b in zip(here, there):
        for k in ("logits_t", "logits_z", "logits_r", "forget_mask"):
            assert np.array_equal(a[k], b[k]), k
    assert list((ray_cache / "unlearned_shadows").glob("*.npz"))  # the Ray workers wrote their caches


def test_a_sweep_on_a_local_ray_instance_gives_the_in_process_rows(ray_cache, tmp_path):
    from unlearnlib.sweep import main

    args = ["--profile", "smoke", "--method", "grad_ascent", "--grid", "lr=1e-4,1e-2", "--method", "influence",
            "--grid", "alpha=1,3", "--device", "cpu"]
    assert main(args + ["--out", str(tmp_path / "here.json")]) == 0
    assert main(args + ["--ray", "local", "--out", str(tmp_path / "ray.json")]) == 0
    here, there = (json.loads((tmp_path / f).read_text()) for f in ("here.json", "ray.json"))
    assert here["meta"]["runner"] == "in-process" and there["meta"]["runner"] == "Ray at local"
    assert [r["method"] for r in there["rows"]] == ["original", "retrain", "grad_ascent", "grad_ascent", "influence",
                                                    "influence"]
    for a, b in zip(here["rows"], there["rows"]):
        assert a["params"] == b["params"]
        for k in ("ua_pct", "mia_efficacy_pct", "ra_pct", "ta_pct", "avg_disparity"):
            assert a[k] == b[k], (a["method"], a["params"], k)


def test_run_all_on_a_local_ray_instance_publishes_every_seed_once(ray_cache, demo, tmp_path, monkeypatch):
    """--ray local --each SEED 0 1 2: the three invocations run as Ray tasks (two at once on two cores), store their
    rows, and the notebook is published once, its table showing all three seeds; no staging folder is left."""
    from unlearnlib.store import view_rows

    _notebook(tmp_path / "notebooks" / "08_seeds.ipynb", SEED_DEMO)
    monkeypatch.setitem(papers.ROOMS, "08_seeds", demo_room("08_seeds", SeedDemoConfig()))
    run = ["--profile", "smoke", "--results", str(demo), "--only", "08", "--each", "SEED", "0", "1", "2"]
    assert run_all.main(run + ["--ray", "local"]) == 0
    view = demo / "smoke" / "08_seeds"
    assert sorted(view_rows(view, "t").seed) == [0, 1, 2]  # seed 0 stored again by the publishing run
    assert json.loads((view / "params.json").read_text())["parameters"]["OVERRIDES"] == {"seed": 0}
    assert not list((demo / "smoke" / ".staging").iterdir()) and not list(demo.glob("smoke/*.failed*"))
