"""run_all.py: discovery, parameters checked before anything runs, a failing notebook never destroys
earlier results, and two runs on the same results folder cannot collide."""
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import ClassVar
from pathlib import Path

import nbformat
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import run_all  # noqa: E402
from types import SimpleNamespace  # noqa: E402

from unlearnlib import papers  # noqa: E402
from unlearnlib.setting import PROFILE_NAMES  # noqa: E402


@dataclass(frozen=True)
class DemoConfig:
    # table fields, as a partial run's (headline_only, parts): not what a stored row holds, so a run with another
    # value is the same config and carries the earlier run's files (unlearnlib.store.carry_unwritten)
    TABLE_FIELDS: ClassVar[tuple[str, ...]] = ("fail", "hold_until", "tag")
    fail: bool = False  # fail on purpose
    hold_until: str = ""  # hold the run until this file exists (at most 5 minutes)
    tag: str = "a"  # written into the result


def demo_room(notebook: str, config) -> SimpleNamespace:
    """A paper's room for a demo notebook: its config at every profile, no claims."""
    return SimpleNamespace(NOTEBOOK=notebook, PROFILES={p: config for p in PROFILE_NAMES}, claims=lambda: [])


def _notebook(path: Path, body: str):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('PROFILE = "quick"  # profile\nOVERRIDES = {}  # config fields\n'
                                       'DEVICE = "auto"  # device\nRESULTS_DIR = ""  # output folder')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


DEMO = ("import time\nfrom pathlib import Path\n"
        "deadline = time.time() + 300\n"
        "while OVERRIDES.get('hold_until') and not Path(OVERRIDES['hold_until']).exists() and time.time() < deadline:\n"
        "    time.sleep(0.1)\n"
        "assert not OVERRIDES.get('fail'), 'failing on purpose'\n"
        "Path(RESULTS_DIR, 'table.csv').write_text('tag\\n' + OVERRIDES.get('tag', 'a') + '\\n')")


@pytest.fixture
def demo(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    _notebook(nbdir / "07_demo.ipynb", DEMO)
    monkeypatch.setattr(run_all, "NOTEBOOKS", nbdir)
    monkeypatch.setitem(papers.ROOMS, "07_demo", demo_room("07_demo", DemoConfig()))
    return tmp_path / "results"


def test_discovery_and_list(capsys):
    assert [p.name for p in run_all.discover()][0] == "00_quickstart.ipynb"
    assert run_all.main(["--list"]) == 0
    assert "00_quickstart" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no such notebook"):
        run_all.main(["--only", "99", "--list"])


@pytest.mark.parametrize("argv,match", [
    (["-p", "NO_SUCH_PARAM", "1"], "NO_SUCH_PARAM: no selected notebook has such a parameter. Accepted: 00_quickstart"),
    (["-p", "SEEDS", "[1,"], "not a Python literal"),
    (["--profile", "smoke", "-p", "PROFILE", "quick"], "disagrees with --profile 'smoke'"),
    (["--only", "02", "-p", "SEEDS", "['a']"], r"seeds\[0\] takes an integer"),
    (["--only", "02", "-p", "FORGET_FRACTION", "'x'"], "forget_fraction takes a number"),
    (["-p", "seed", "1"], "UPPER_CASE"),
    (["--only", "02", "-p", "DAU.ALPHA", "0.5", "-p", "DAU.ALPHA", "0.3"],
     r"-p DAU.ALPHA is given twice \(0.5 and 0.3\).*--each DAU.ALPHA 0.5 0.3"),
    (["-p", "RESULTS_DIR", "/tmp/x"], "run_all chooses the results folder"),
    (["-p", "NOPE.ALPHA", "1"], "no registered method 'nope'"),
    (["--only", "00", "-p", "DAU.ALPHA", "0.5"], "DAU.ALPHA: no selected notebook has such a parameter"),
    (["--only", "02", "-p", "DAU.ALPHAA", "0.5"], r"unknown parameter\(s\) \['dau.alphaa'\] for DAUConfig"),
    (["--only", "04", "-p", "DAU.ALPHA", "'x'"], "dau.alpha takes a number"),
])
def test_bad_parameters_stop_before_anything_runs(argv, match, tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(run_all, "run_one", lambda *a, **k: started.append(a))
    with pytest.raises(SystemExit, match=match):
        run_all.main(argv + ["--results", str(tmp_path)])
    assert not started and not any(tmp_path.iterdir())


def test_parameters_reach_only_the_notebooks_that_have_them():
    nbs = [p for p in run_all.discover() if p.stem[:2] in ("00", "02")]
    per = run_all.resolve_parameters([("SCHEMES", '["class"]'), ("DEVICE", "cpu")], "smoke", nbs)
    assert per["02_discriminative_adversarial_unlearning"] == {"DEVICE": "cpu", "OVERRIDES": {"schemes": ["class"]}}
    assert per["00_quickstart"] == {"DEVICE": "cpu", "OVERRIDES": {}}


def test_a_method_override_reaches_every_notebook_that_runs_the_method():
    """-p DAU.ALPHA 0.5 changes DAU in notebooks 02 and 04 alike (both read DAU's preset), and nothing in 00, which
    does not run DAU; FINETUNE.EPOCHS reaches all three."""
    from unlearnlib.papers import notebook_config

    nbs = [p for p in run_all.discover() if p.stem[:2] in ("00", "02", "04")]
    per = run_all.resolve_parameters([("DAU.ALPHA", "0.5"), ("FINETUNE.EPOCHS", "3")], "cpu", nbs)
    assert per["00_quickstart"]["OVERRIDES"] == {"finetune.epochs": 3}
    for stem in ("02_discriminative_adversarial_unlearning", "04_careful_evaluation"):
        assert per[stem]["OVERRIDES"] == {"dau.alpha": 0.5, "finetune.epochs": 3}
        cfg = notebook_config(stem, "cpu", per[stem]["OVERRIDES"])
        dau, default = cfg.method_config("dau"), notebook_config(stem, "cpu").method_config("dau")
        assert dau.alpha == 0.5 and default.alpha == 0.3  # the cpu preset's alpha, overridden
        assert dau.lr == default.lr == 0.003  # the rest of the preset stays
        assert cfg.method_config("finetune").epochs == 3
    # notebook 04's own per-method overrides (one repair epoch) stay beside a new one
    cfg = notebook_config("04_careful_evaluation", "cpu", {"amnesiac.epochs": 2})
    assert cfg.method_config("amnesiac").epochs == 2 and cfg.method_config("random_label").epochs == 1


def test_a_retrain_override_reaches_every_notebook_that_retrains():
    """-p RETRAIN.PROGRESS reaches all five notebooks, those whose retrain starts from a model of their own (notebook
    01's run seed, notebook 03's supervised model) included, and -p GRADIENT_PENALTY.ALPHA reaches notebook 03 only;
    without an override, their retrain configs are the ones they built before (the same cache keys)."""
    from dataclasses import replace

    from unlearnlib.methods import make_config
    from unlearnlib.papers import notebook_config

    nbs = run_all.discover()
    per = run_all.resolve_parameters([("RETRAIN.PROGRESS", "True"), ("GRADIENT_PENALTY.ALPHA", "0.5")], "cpu", nbs)
    assert {stem: ov for stem, v in per.items() if (ov := v["OVERRIDES"])} == {
        **{p.stem: {"retrain.progress": True} for p in nbs},
        "03_contrastive_unlearning": {"retrain.progress": True, "gradient_penalty.alpha": 0.5}}
    nb01, nb03 = "01_amnesiac_unlearning", "03_contrastive_unlearning"
    c01, d01 = notebook_config(nb01, "cpu", per[nb01]["OVERRIDES"]), notebook_config(nb01, "cpu")
    assert c01.method_config("retrain").progress and c01.method_config("retrain").train == d01.method_config("retrain").train
    assert d01.method_config("retrain") == make_config("retrain", train=replace(d01.train, seed=d01.seed))
    c03, d03 = notebook_config(nb03, "cpu", per[nb03]["OVERRIDES"]), notebook_config(nb03, "cpu")
    assert c03.supervised_retrain_config().progress and c03.method_config("gradient_penalty").alpha == 0.5
    assert d03.supervised_retrain_config() == make_config("retrain", train=d03.supervised_train())


def test_a_method_override_reaches_notebook_01():
    """-p RANDOM_LABEL.LR reaches notebook 01 (which builds its Graves methods by the paper's protocol) as it reaches
    notebook 04: on top of the protocol there, which still sets the other methods' rate to the original's; the rows
    stored before the field existed stay this config's, and a method notebook 01 does not run is refused."""
    from pathlib import Path

    from unlearnlib.config import ConfigError
    from unlearnlib.papers import notebook_config
    from unlearnlib.store import merged

    nbs = [p for p in run_all.discover() if p.stem[:2] in ("01", "04")]
    per = run_all.resolve_parameters([("RANDOM_LABEL.LR", "0.01")], "cpu", nbs)
    for stem in ("01_amnesiac_unlearning", "04_careful_evaluation"):
        assert per[stem]["OVERRIDES"] == {"random_label.lr": 0.01}
        assert notebook_config(stem, "cpu", per[stem]["OVERRIDES"]).method_config("random_label").lr == 0.01
    cfg = notebook_config("01_amnesiac_unlearning", "cpu", per["01_amnesiac_unlearning"]["OVERRIDES"])
    default = notebook_config("01_amnesiac_unlearning", "cpu")
    assert default.method_config("random_label").lr == cfg.method_config("amnesiac").lr == default.train.lr
    assert cfg.method_config("random_label").epochs == default.unlearn_epochs  # the protocol's epochs stay
    out = Path(__file__).resolve().parents[1] / "results" / "cpu" / "01_amnesiac_unlearning"
    assert merged(out, "table1_mia_recall", default)[1] == [0, 1, 2, 3]
    assert merged(out, "table1_mia_recall", cfg)[1] == []  # another config's rows
    with pytest.raises(ConfigError, match="notebook 01 runs"):
        notebook_config("01_amnesiac_unlearning", "cpu", {"dau.alpha": 0.5})


def test_notebook_01_rows_are_keyed_by_resolved_method_configs(tmp_path, monkeypatch):
    """Notebook 01's Table 1 rows are keyed by its methods' resolved configs, not the overrides: an override equal
    to what the protocol resolves keys the same rows (also the rows stored before the key resolved them, whose
    config holds the overrides, and the committed cpu store), a change of a method's defaults keys new ones (once
    the rows' file holds resolved configs: an older file cannot show what its rows resolved to, and is taken as
    today's resolution, the premise `as_stored` makes of a new field's default)."""
    from dataclasses import replace
    from pathlib import Path

    from unlearnlib.papers import notebook_config
    from unlearnlib.store import _file, config_fingerprint, merged, save_rows

    default = notebook_config("01_amnesiac_unlearning", "cpu")
    same = notebook_config("01_amnesiac_unlearning", "cpu", {"random_label.lr": default.train.lr})
    other = notebook_config("01_amnesiac_unlearning", "cpu", {"random_label.lr": 0.01})
    assert same.method_overrides and config_fingerprint(same)[0] == config_fingerprint(default)[0]
    assert config_fingerprint(other)[0] != config_fingerprint(default)[0]
    assert dict(default.method_configs())["random_label"].lr == default.train.lr
    # the methods take the run's seed: another seed keys the same rows, a method seed set apart from it does not
    one = notebook_config("01_amnesiac_unlearning", "cpu", {"seed": 1})
    assert config_fingerprint(one)[0] == config_fingerprint(default)[0]
    assert config_fingerprint(notebook_config("01_amnesiac_unlearning", "cpu", {"seed": 1, "amnesiac.seed": 1}))[0] \
        == config_fingerprint(one)[0], "the run's own seed, given by name"
    apart = notebook_config("01_amnesiac_unlearning", "cpu", {"seed": 1, "amnesiac.seed": 0})
    assert dict(apart.method_configs())["amnesiac"].seed == 0
    assert config_fingerprint(apart)[0] != config_fingerprint(one)[0], "seed 1's rows with amnesiac at seed 0"
    committed = Path(__file__).resolve().parents[1] / "results" / "cpu" / "01_amnesiac_unlearning"
    # the committed file was stored before the key resolved the methods' configs (seeds 1 and 2), and rewritten under
    # it by a later run of the same config (seeds 0, 1 and 3, 2026-12-08): one file, every seed
    assert "method_configs" in json.loads(_file(committed, "table1_mia_recall", default)[0].with_suffix(".json")
                                          .read_text())["config"], "rewritten under the resolved key"
    assert merged(committed, "table1_mia_recall", same)[1] == [0, 1, 2, 3]

    # a file stored under the old key (the config's own fields, the overrides among them) matches both configs
    out = tmp_path / "nb"
    path = save_rows(out, "t", default, 0, pd.DataFrame({"scheme": ["class"], "naive_retrain": [0.5]}))
    info = json.loads(path.with_suffix(".json").read_text())
    legacy = json.loads(json.dumps({k: v for k, v in vars(default).items() if k != "seed"}, default=str))
    info["config"] = {k: v for k, v in legacy.items() if k != "method_overrides"}  # stored before the field existed
    path.with_suffix(".json").write_text(json.dumps(info))
    assert _file(out, "t", same)[0] == _file(out, "t", default)[0] == path
    assert _file(out, "t", other)[0] != path
    save_rows(out, "t", same, 1, pd.DataFrame({"scheme": ["class"], "naive_retrain": [0.7]}))
    assert merged(out, "t", default)[1] == [0, 1], "the override that resolves to the protocol adds to the same rows"
    assert "method_configs" in json.loads(path.with_suffix(".json").read_text())["config"], "rewritten under the new key"

    # a method's default changed in the code (random label's weight decay): its resolved config differs, so the
    # same config's rows are another file's
    room = type(default)
    resolve = room.method_config
    monkeypatch.setattr(room, "method_config", lambda self, name, **f: (
        replace(resolve(self, name, **f), weight_decay=1e-4) if name == "random_label" else resolve(self, name, **f)))
    assert dict(default.method_configs())["random_label"].weight_decay == 1e-4
    assert _file(out, "t", default)[0] != path and merged(out, "t", default)[1] == []


def test_a_device_this_machine_lacks_stops_the_run_before_any_notebook(demo):
    """-p DEVICE names a device: one this machine lacks (cuda without a GPU, an unknown name) stops run_all before
    any notebook starts, naming what is there; nothing is written. So does the paper profile where torch sees no
    GPU, unless -p DEVICE cpu asks for the CPU by name."""
    import torch

    from unlearnlib.train import resolve_device

    results = demo
    bad = ["gpu", "cuda:99"] + ([] if torch.cuda.is_available() else ["cuda"])
    for device in bad:
        with pytest.raises(SystemExit, match="-p DEVICE: .*(unknown device|no CUDA device|CUDA device\\(s\\))"):
            run_all.main(["--profile", "smoke", "--results", str(results), "-p", "DEVICE", repr(device)])
        with pytest.raises(ValueError, match=repr(device)):
            resolve_device(device)
    assert not results.exists(), "nothing ran"
    assert resolve_device("cpu").type == "cpu" and resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert run_all.main(["--profile", "smoke", "--results", str(results), "-p", "DEVICE", "'cpu'"]) == 0
    if not torch.cuda.is_available():  # the paper profile on a machine without a GPU: only when asked for by name
        with pytest.raises(SystemExit, match="sized for a GPU.*-p DEVICE cpu"):
            run_all.main(["--profile", "paper", "--results", str(results)])
        assert not (results / "paper").exists()
        assert run_all.main(["--profile", "paper", "--results", str(results), "-p", "DEVICE", "'cpu'"]) == 0


def test_failure_keeps_earlier_results(demo):
    results = demo
    assert run_all.main(["--profile", "smoke", "--results", str(results)]) == 0
    final = results / "smoke" / "07_demo"
    meta = json.loads((final / "params.json").read_text())
    assert meta["status"] == "ok" and meta["parameters"]["PROFILE"] == "smoke" and "git_commit" in meta
    assert (final / "table.csv").is_file() and (final / "07_demo.ipynb").is_file()
    assert run_all.main(["--profile", "smoke", "--results", str(results), "-p", "FAIL", "True"]) == 1
    assert (final / "table.csv").read_text() == "tag\na\n"  # earlier results intact
    failed = results / "smoke" / "07_demo.failed"
    assert "failing on purpose" in json.loads((failed / "params.json").read_text())["status"]


def test_the_commit_pinned_for_a_run_is_gone_after_it(demo, monkeypatch):
    """run_all pins the commit at its start for the kernels (UNLEARNLIB_GIT_COMMIT); called from Python, it removes
    it afterwards, so a later call, or git_commit(root) of another checkout, reads its own commit; a caller's own
    value is kept."""
    import os

    monkeypatch.delenv("UNLEARNLIB_GIT_COMMIT", raising=False)
    assert run_all.main(["--profile", "smoke", "--results", str(demo)]) == 0
    assert "UNLEARNLIB_GIT_COMMIT" not in os.environ
    monkeypatch.setenv("UNLEARNLIB_GIT_COMMIT", "abc")
    assert run_all.main(["--profile", "smoke", "--results", str(demo)]) == 0
    assert os.environ["UNLEARNLIB_GIT_COMMIT"] == "abc"
    assert json.loads((demo / "smoke" / "07_demo" / "params.json").read_text())["git_commit"] == "abc"


def test_a_new_run_keeps_what_it_did_not_write(demo):
    """A run of part of a notebook (seed 1, one scheme, headline_only) replaces the published folder: what it
    rewrites is replaced, while the view's index of seed 0's stored rows, its split files and the tables only the earlier run wrote
    stay, listed under "carried" in params.json; the earlier run's log is not carried."""
    results = demo
    assert run_all.main(["--profile", "smoke", "--results", str(results)]) == 0
    final = results / "smoke" / "07_demo"
    (final / "rows.json").write_text('{"table1": {"rows": "store/07_demo/table1/abc.csv", "fingerprint": "abc"}}')
    (final / "split_random_seed0.json").write_text('{"seed": 0}')
    (final / "table4_ablation.csv").write_text("x\n1\n")  # a table the partial run below does not write
    (final / "table4_ablation.md").write_text("# table4_ablation\n")  # ... and its twins, which go with it
    (final / "table4_ablation.meta.json").write_text('{"seeds": [0]}')
    (final / "table.md").write_text("# the earlier run's table\n")  # a twin of table.csv, which the run rewrites
    (final / "table.meta.json").write_text('{"tag": "a"}')
    (final / "kernel.log").write_text("the earlier run's log")
    assert run_all.main(["--profile", "smoke", "--results", str(results), "-p", "TAG", "'b'"]) == 0
    assert (final / "table.csv").read_text() == "tag\nb\n"
    # the index of stored rows merges: seed 0's table1 rows stay in the view (the run stored none of its own)
    assert json.loads((final / "rows.json").read_text())["table1"]["fingerprint"] == "abc"
    assert (final / "split_random_seed0.json").read_text() == '{"seed": 0}'
    assert (final / "table4_ablation.csv").read_text() == "x\n1\n"
    assert "earlier run" not in (final / "kernel.log").read_text()
    carried = json.loads((final / "params.json").read_text())["carried"]
    assert sorted(carried) == ["split_random_seed0.json", "table4_ablation.csv", "table4_ablation.md",
                               "table4_ablation.meta.json"]  # rows.json was merged, not carried
    # the earlier run's twins of the rewritten table.csv would describe other data: not carried
    assert not (final / "table.md").exists() and not (final / "table.meta.json").exists()


SEED_DEMO = ("import os\nimport pandas as pd\nfrom unlearnlib.store import save_rows\n"
             "from dataclasses import dataclass\n"
             "@dataclass(frozen=True)\nclass Cfg:\n    alpha: float = 1.0\n    seed: int = 0\n"
             "cfg = Cfg(**OVERRIDES)\n"
             "save_rows(RESULTS_DIR, 't', cfg, cfg.seed, pd.DataFrame({'alpha': [cfg.alpha]}))\n"
             "assert not os.environ.get('DEMO_FAIL'), 'failing after the rows were stored'")


@dataclass(frozen=True)
class SeedDemoConfig:
    alpha: float = 1.0  # a config field: a new value is a new config
    seed: int = 0


def test_rows_go_to_the_store_and_the_view_shows_one_config(demo, tmp_path, monkeypatch):
    """run_all's notebooks store rows in results/<profile>/store/<notebook>/ (not in the staging folder): seeds of
    one config add up, a new config's rows sit in their own file and the view shows only them, and the rows of a run
    that fails after storing them are kept."""
    from unlearnlib.store import view_rows

    _notebook(tmp_path / "notebooks" / "08_seeds.ipynb", SEED_DEMO)
    monkeypatch.setitem(papers.ROOMS, "08_seeds", demo_room("08_seeds", SeedDemoConfig()))
    run = ["--profile", "smoke", "--results", str(demo), "--only", "08"]
    for seed in (0, 1):
        assert run_all.main(run + ["-p", "SEED", str(seed)]) == 0
    view = demo / "smoke" / "08_seeds"
    store = demo / "smoke" / "store" / "08_seeds" / "t"
    assert view_rows(view, "t").seed.tolist() == [0, 1]
    assert run_all.main(run + ["-p", "SEED", "0", "-p", "ALPHA", "0.3"]) == 0
    assert view_rows(view, "t").alpha.tolist() == [0.3]
    assert sorted(len(pd.read_csv(p)) for p in store.glob("*.csv")) == [1, 2]  # the first config's two seeds stay
    monkeypatch.setenv("DEMO_FAIL", "1")  # the kernel inherits it: seed 1 fails after storing its rows
    assert run_all.main(run + ["-p", "SEED", "1", "-p", "ALPHA", "0.3"]) == 1
    assert view_rows(view, "t").seed.tolist() == [0]  # the view is the last successful run's
    fp = json.loads((view / "rows.json").read_text())["t"]["fingerprint"]
    assert pd.read_csv(store / f"{fp}.csv").seed.tolist() == [0, 1]  # ... and the failed run's stored seed is kept
    assert not list(view.parent.glob(".staging/*/store"))


def test_two_runs_on_one_folder_do_not_collide(demo, tmp_path):
    """The second run stops at once naming the first; the first publishes its own result and parameters. The first
    holds its lock until the second has ended (a file the test writes then), however slowly a loaded machine starts
    the second: with a fixed hold of 8 s, the second's imports once outlasted it on two busy xdist workers."""
    results = demo
    script = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
              "import run_all, test_run_all\nfrom pathlib import Path\nfrom unlearnlib import papers\n"
              f"run_all.NOTEBOOKS = Path({str(tmp_path / 'notebooks')!r})\n"
              "papers.ROOMS['07_demo'] = test_run_all.demo_room('07_demo', test_run_all.DemoConfig())\n"
              "sys.exit(run_all.main(sys.argv[1:]))\n")
    cmd = [sys.executable, "-c", script, "--profile", "smoke", "--results", str(results)]
    release = tmp_path / "release"
    first = subprocess.Popen(cmd + ["-p", "TAG", "'first'", "-p", "HOLD_UNTIL", repr(str(release))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = results / "smoke" / ".locks" / "07_demo.lock"
    for _ in range(1200):  # up to 2 minutes: on a loaded machine the first run's imports alone take tens of seconds
        if lock.exists():
            break
        time.sleep(0.1)
    else:
        first.kill()
        raise AssertionError("the first run never took the folder's lock")
    try:
        second = subprocess.run(cmd + ["-p", "TAG", "'second'"], capture_output=True, text=True, timeout=120)
    finally:
        release.touch()
    out1, err1 = first.communicate(timeout=180)
    assert second.returncode == 1 and "being computed by another run" in second.stderr, second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert first.returncode == 0, err1
    final = results / "smoke" / "07_demo"
    assert (final / "table.csv").read_text() == "tag\nfirst\n"
    assert json.loads((final / "params.json").read_text())["parameters"]["OVERRIDES"]["tag"] == "first"
    assert not lock.exists()


def test_prepare_only_injects_parameters(tmp_path):
    assert run_all.main(["--profile", "smoke", "--only", "00", "--prepare-only", str(tmp_path)]) == 0
    nb = nbformat.read(tmp_path / "00_quickstart.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert injected and 'PROFILE = "smoke"' in injected[0].source


def test_notebook_03_runs_only_the_parts_asked(tmp_path):
    """-p PARTS '["amounts"]' (a cpu seed's other tables split over sessions): notebook 03 trains only the base
    encoder, stores Table VI's rows naming that encoder's weights, and computes nothing of the other parts. Its view
    comes from the store, not from the last run: a later run of seed 1 stores seed 1's rows beside seed 0's, and the
    view goes on showing seed 0's, carried from nowhere."""
    results = tmp_path / "results"
    run = ["--profile", "smoke", "--results", str(results), "--only", "03", "-p", "PARTS", '["amounts"]']
    assert run_all.main(run) == 0
    out = results / "smoke" / "03_contrastive_unlearning"
    written = {p.name for p in out.iterdir()}
    assert {"table6_amount.csv", "table6_amount.meta.json", "params.json", "rows.json"} <= written
    for part_of_another in ("table2_3_ssl_methods.csv", "table7_supervised.csv", "table4_ablation_full.csv",
                            "table_retrained_encoder.csv", "acceptance.csv", "distributions.png", "distributions_summary.csv",
                            "tsne.png"):
        assert part_of_another not in written
    meta = json.loads((out / "table6_amount.meta.json").read_text())
    assert meta["ssl"] == "moco" and len(meta["encoder_weights"]) == 20 and meta["seeds"] == [0]
    nb = nbformat.read(out / "03_contrastive_unlearning.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "parts ['amounts']" in printed
    assert "moco:" in printed and "simclr:" not in printed and "byol:" not in printed  # only the base encoder trained
    seed0 = (out / "table6_amount.csv").read_text()
    assert run_all.main(run + ["-p", "SEED", "1"]) == 0
    assert json.loads((out / "table6_amount.meta.json").read_text())["seeds"] == [0]
    assert (out / "table6_amount.csv").read_text() == seed0
    assert "table6_amount.csv" not in json.loads((out / "params.json").read_text()).get("carried", [])
    store = results / "smoke" / "store" / "03_contrastive_unlearning" / "table6_amount"
    stored = pd.concat(pd.read_csv(p) for p in store.glob("*.csv") if not p.name.endswith(".replaced.csv"))
    assert sorted(set(stored.seed)) == [0, 1] and set(stored.ssl) == {"moco"}
    assert not stored[stored.seed == 1].drop(columns=["seed", "_commit", "_device", "_time_utc"]).reset_index(drop=True).equals(
        stored[stored.seed == 0].drop(columns=["seed", "_commit", "_device", "_time_utc"]).reset_index(drop=True)), "seed 1 ran"


def test_notebook_01_views_come_from_the_store_whichever_seed_ran_last(tmp_path):
    """Notebook 01 at smoke, seed 0 whole, then seed 1 headline-only (-p SEED 1 -p HEADLINE_ONLY True): Table 1's
    seeds merge, and every table of one run (the curve over epochs and its inversions, the batches-removed curve,
    table_methods, the record's cost, the attack's quality, Table 1's own view) still shows seed 0's stored rows,
    drawn from the store, none carried from the earlier folder; the acceptance reads the same rows."""
    results = tmp_path / "results"
    run = ["--profile", "smoke", "--results", str(results), "--only", "01"]
    assert run_all.main(run) == 0
    out = results / "smoke" / "01_amnesiac_unlearning"
    of_one_run = ("accuracy_over_epochs", "batches_removed", "table_methods", "amnesiac_record_cost",
                  "shadow_attack_quality", "table1_mia_recall")
    first = {t: (out / f"{t}.csv").read_text() for t in of_one_run}
    acceptance = pd.read_csv(out / "acceptance.csv")
    assert run_all.main(run + ["-p", "SEED", "1", "-p", "HEADLINE_ONLY", "True"]) == 0
    for t in of_one_run:
        assert (out / f"{t}.csv").read_text() == first[t], t
        assert json.loads((out / f"{t}.meta.json").read_text())["seeds"] == [0], t
    params = json.loads((out / "params.json").read_text())
    assert not {f"{t}.csv" for t in of_one_run} & set(params.get("carried", [])), "drawn from the store, not carried"
    assert {"inversion_grid.png", "inversion_variants.png", "accuracy_over_epochs.png"} <= {p.name for p in out.iterdir()}
    assert json.loads((out / "table1_mia_recall_seeds.meta.json").read_text())["seeds"] == [0, 1]
    assert json.loads((out / "rows.json").read_text())["inversion_grid"]["seeds"] == [0]
    again = pd.read_csv(out / "acceptance.csv")  # Table 1's claims read both seeds now; the curve's, seed 0's as before
    assert set(again.claim) == set(acceptance.claim) and (again.verdict != "not run").all()


def test_notebook_03_headline_call_of_another_encoder_runs(tmp_path):
    """The paper profile's plan for notebook 03, a GPU call per encoder: a headline-only call of an encoder other than
    the base (-p SSL_METHODS '["simclr"]' -p HEADLINE_ONLY True) trains that encoder alone, writes Tables II-III and
    VII and the acceptance, and none of the base encoder's tables (it once stopped at the base encoder's missing
    entry); its params.json records the config it ran under."""
    results = tmp_path / "results"
    assert run_all.main(["--profile", "smoke", "--results", str(results), "--only", "03",
                         "-p", "SSL_METHODS", '["simclr"]', "-p", "HEADLINE_ONLY", "True"]) == 0
    out = results / "smoke" / "03_contrastive_unlearning"
    written = {p.name for p in out.iterdir()}
    assert {"table2_3_ssl_methods.csv", "table7_supervised.csv", "acceptance.csv"} <= written
    assert not written & {"table4_ablation_full.csv", "table6_amount.csv", "table_retrained_encoder.csv", "tsne.png"}
    assert set(pd.read_csv(out / "table2_3_ssl_methods.csv").ssl) == {"simclr"}
    from unlearnlib.papers import notebook_config
    from unlearnlib.store import config_fingerprint

    params = json.loads((out / "params.json").read_text())  # the config a later partial run's carry-over checks
    cfg = notebook_config("03_contrastive_unlearning", "smoke", {"ssl_methods": ["simclr"], "headline_only": True})
    assert params["config_fingerprint"] == config_fingerprint(cfg)[0] and params["config"]["ssl_epochs"] == cfg.ssl_epochs


def test_notebook_02_split_runs_add_up(tmp_path):
    """Notebook 02 split over two invocations (dense, then 95 % sparse: how the GPU calls and the long cpu runs are
    sized) ends with both halves in Table 1 and in the game's trajectory: the second run's trajectory no longer
    replaces the first's."""
    results = tmp_path / "results"
    run = ["--profile", "smoke", "--results", str(results), "--only", "02", "-p", "SCHEMES", '["random"]',
           "-p", "METHODS", '["dau"]', "-p", "BEYOND", "[]"]  # the game's trajectory needs DAU only
    for sparsities in ("[0.0]", "[0.95]"):
        assert run_all.main(run + ["-p", "SPARSITIES", sparsities]) == 0
    out = results / "smoke" / "02_discriminative_adversarial_unlearning"
    for table in ("table1_seeds", "trajectory"):
        assert sorted(set(pd.read_csv(out / f"{table}.csv").sparsity)) == [0.0, 0.95], table
    from unlearnlib.store import view_rows

    assert sorted(set(view_rows(out, "trajectory").sparsity)) == [0.0, 0.95]


def test_a_beyond_method_override_reaches_notebook_02():
    """-p SSD.ALPHA reaches notebook 02, which runs SSD in its beyond-the-paper table (cfg.beyond), not in `methods`."""
    from unlearnlib.papers import notebook_config

    nbs = [p for p in run_all.discover() if p.stem[:2] == "02"]
    per = run_all.resolve_parameters([("SSD.ALPHA", "5.0")], "cpu", nbs)
    stem = "02_discriminative_adversarial_unlearning"
    assert per[stem]["OVERRIDES"] == {"ssd.alpha": 5.0}
    beyond = dict(notebook_config(stem, "cpu", per[stem]["OVERRIDES"]).beyond_config().method_configs())
    assert beyond["ssd"].alpha == 5.0


def test_each_value_is_an_invocation_and_bad_each_stops(demo, tmp_path, monkeypatch):
    """--each SEED 0 1: two invocations, one after the other, whose rows add up in the view; a name without values
    or also given with -p stops before anything runs."""
    from unlearnlib.store import view_rows

    _notebook(tmp_path / "notebooks" / "08_seeds.ipynb", SEED_DEMO)
    monkeypatch.setitem(papers.ROOMS, "08_seeds", demo_room("08_seeds", SeedDemoConfig()))
    run = ["--profile", "smoke", "--results", str(demo), "--only", "08"]
    jobs = run_all.invocations([("ALPHA", "0.3")], [["SEED", "0", "1"]], "smoke", run_all.select(run_all.discover(), ["08"]))
    assert [j[1]["OVERRIDES"] for j in jobs] == [{"alpha": 0.3, "seed": 0}, {"alpha": 0.3, "seed": 1}]
    assert run_all.main(run + ["--each", "SEED", "0", "1"]) == 0
    assert view_rows(demo / "smoke" / "08_seeds", "t").seed.tolist() == [0, 1]
    for bad, match in ((["--each", "SEED"], "at least one value"), (["--each", "SEED", "2", "-p", "SEED", "2"], "not also"),
                       (["--each", "NOPE", "1"], "no selected notebook has such a parameter")):
        with pytest.raises(SystemExit, match=match):
            run_all.main(run + bad)


def test_an_executed_notebook_names_no_environment_folder(tmp_path):
    """A library warning prints the file it came from, under the environment's folder (a linked one resolves to
    another path): the published notebook writes both as <venv>, and leaves other text alone."""
    linked, real = tmp_path / "wt" / ".venv", tmp_path / "main" / ".venv"
    text = (f"{real}/lib/python3.11/site-packages/sklearn/x.py:1: Warning\n{linked}/lib/y.py\n"
            f"{tmp_path}/main/results/a.csv")
    out = run_all.without_prefix(text, [str(linked), str(real) + "/"])
    assert out.splitlines()[:2] == ["<venv>/lib/python3.11/site-packages/sklearn/x.py:1: Warning", "<venv>/lib/y.py"]
    assert out.splitlines()[2] == f"{tmp_path}/main/results/a.csv"
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("x = 1"))
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", name="stderr", text=f"{sys.prefix}/lib/z.py:3: W\n")]
    nb.metadata["papermill"] = {"input_path": str(tmp_path / "a.ipynb"), "output_path": str(tmp_path / "b")}
    executed = tmp_path / "a.ipynb"
    nbformat.write(nb, executed)
    run_all.portable_papermill_paths(executed, ROOT / "notebooks" / "a.ipynb", ROOT / "results" / "quick" / "a")
    d = json.loads(executed.read_text())
    assert "".join(d["cells"][0]["outputs"][0]["text"]) == "<venv>/lib/z.py:3: W\n"
    assert d["metadata"]["papermill"]["input_path"] == "notebooks/a.ipynb"


def test_a_bf16_cpu_run_on_a_cpu_without_native_bf16_is_told_so_before_it_starts(monkeypatch):
    """The cpu profile trains in bf16 (TrainConfig.cpu_bf16); where the CPU emulates bf16 (about 5x slower than
    float32), run_all says so up front and names the float32 override; with native bf16, with that override, or at a
    float32 profile, it says nothing."""
    from unlearnlib import results

    nb02 = [n for n in run_all.discover() if n.stem.startswith("02")]
    monkeypatch.setattr(results, "native_cpu_bf16", lambda: False)
    cpu = run_all.invocations([], [], "cpu", nb02)
    notice = run_all.emulated_bf16_notice(cpu, "cpu")
    assert notice and "02_discriminative_adversarial_unlearning" in notice and "no native bf16" in notice
    assert """-p TRAIN '{"cpu_bf16": False}'""" in notice
    f32 = run_all.invocations([("TRAIN", '{"cpu_bf16": False}')], [], "cpu", nb02)
    assert run_all.emulated_bf16_notice(f32, "cpu") is None
    assert run_all.emulated_bf16_notice(run_all.invocations([], [], "quick", nb02), "quick") is None
    monkeypatch.setattr(results, "native_cpu_bf16", lambda: True)
    assert run_all.emulated_bf16_notice(cpu, "cpu") is None


def test_a_bad_dau_value_stops_before_anything_runs():
    """A DAU field's bad value is refused when the config is built (DAUConfig checks its values), with the field and
    the accepted values named, in every notebook that runs DAU: not mid-run, and not only where the field acts."""
    nbs = [p for p in run_all.discover() if p.stem[:2] in ("02", "04")]
    for name, value, words in (("DAU.CLASS_OFF", '"beta"', "class_off must be"),
                               ("DAU.LR_CLASS", "-1", "dau.lr_class must be a finite positive"),
                               ("DAU.SENSITIVITY", '"jacobian"', "dau.sensitivity takes one of")):
        with pytest.raises(SystemExit, match=words):
            run_all.resolve_parameters([(name, value), ("SCHEMES", '["random"]')], "cpu", nbs)


def test_notebook_02_fills_in_a_changed_method_and_publishes_the_view_from_the_store(tmp_path):
    """After a change to FT, a run of FT alone (no retrain) stores FT's rows; a run of no seeds under the changed
    config then publishes Table 1 whole without computing anything: FT from the second run, every other method from
    the first (their configs did not change), FT's Avg. Disparity measured against the first run's retrain; the
    report reads the same rows (view_rows), with both runs' provenance."""
    from unlearnlib.metrics import avg_disparity
    from unlearnlib.store import view_provenance, view_rows

    results = tmp_path / "results"
    base = ["--profile", "smoke", "--results", str(results), "--only", "02", "-p", "SCHEMES", '["random"]',
            "-p", "SPARSITIES", "[0.0]", "-p", "BEYOND", "[]"]
    assert run_all.main(base) == 0
    out = results / "smoke" / "02_discriminative_adversarial_unlearning"
    first = view_rows(out, "table1")
    assert run_all.main(base + ["-p", "FINETUNE.EPOCHS", "3", "-p", "METHODS", '["finetune"]']) == 0
    assert sorted(set(view_rows(out, "table1").method)) == ["finetune", "original"]
    ft = view_rows(out, "table1").set_index("method").loc["finetune"]
    assert run_all.main(base + ["-p", "FINETUNE.EPOCHS", "3", "-p", "SEEDS", "[]"]) == 0
    shown = pd.read_csv(out / "table1_seeds.csv")
    pd.testing.assert_frame_equal(view_rows(out, "table1"), shown, check_dtype=False)
    assert shown.method.tolist() == first.method.tolist()  # original, retrain, FT, GA, FF, IU, DAU
    by = shown.set_index("method")
    for m in ("retrain", "grad_ascent", "fisher", "influence", "dau"):
        assert by.loc[m, "ua_pct"] == first.set_index("method").loc[m, "ua_pct"]
    assert by.loc["finetune", "ua_pct"] == ft.ua_pct and by.loc["finetune", "runtime_s"] == ft.runtime_s
    assert by.loc["finetune", "avg_disparity"] == pytest.approx(avg_disparity(by.loc["finetune"], by.loc["retrain"]))
    assert len({commit_time for _, _, commit_time, _ in view_provenance(out)}) >= 2  # rows of two runs
    # the view's tables name the machine that computed their rows, not only the one that published them
    computed = json.loads((out / "table1_seeds.meta.json").read_text())["rows_computed_on"]
    assert computed.startswith("cpu: ") and "(seeds [0])" in computed
    assert len(view_rows(out, "trajectory"))  # DAU's game: its config did not change
