"""The notebooks read as prose and library calls: a parameters cell of literals, no function or class
definitions, no published figure typed into a cell (they live in unlearnlib/published)."""
from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import pytest

from unlearnlib.papers import ROOMS
from unlearnlib.published import PAPERS, published

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def code_cells(path: Path) -> list[tuple[list[str], str]]:
    cells = json.loads(path.read_text())["cells"]
    return [(c.get("metadata", {}).get("tags", []), "".join(c["source"])) for c in cells if c["cell_type"] == "code"]


def test_there_are_notebooks_and_each_has_a_config():
    assert len(NOTEBOOKS) >= 4
    assert {nb.stem for nb in NOTEBOOKS} == set(ROOMS)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_parameters_cell_is_profile_overrides_device_results_dir(nb):
    cells = code_cells(nb)
    params = [src for tags, src in cells if "parameters" in tags]
    assert len(params) == 1
    tree = ast.parse(params[0])
    names = []
    for node in tree.body:
        assert isinstance(node, ast.Assign) and len(node.targets) == 1, ast.dump(node)
        names.append(node.targets[0].id)
        ast.literal_eval(node.value)  # literals only
    assert names == ["PROFILE", "OVERRIDES", "DEVICE", "RESULTS_DIR"]
    # papermill infers each parameter's type from its line; an '=' inside a comment breaks that
    assert all(line.count("=") == 1 for line in params[0].splitlines() if line.strip())
    # the PROFILE line lists every profile, in the one order unlearnlib.setting declares them
    from unlearnlib.setting import PROFILE_NAMES

    profile_line = next(line for line in params[0].splitlines() if line.startswith("PROFILE"))
    assert " | ".join(PROFILE_NAMES) + ":" in profile_line, profile_line


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_function_or_class_definitions_in_code_cells(nb):
    for _, src in code_cells(nb):
        tree = ast.parse(src)
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                                              ast.ClassDef))]
        assert not defs, f"{nb.name} defines {[getattr(d, 'name', 'lambda') for d in defs]}: move it to unlearnlib"


def _published_literals() -> set[float]:
    values = set()
    for paper in PAPERS:
        for v in published(paper)["value"]:
            if float(v) != int(v):  # a fractional published figure (whole percentages are too common to flag)
                values.add(round(float(v), 6))
    return values


def test_the_published_literal_finder_sees_a_typed_figure(tmp_path):
    figures = _published_literals()
    assert 0.975 in figures and 4.96 in figures
    tree = ast.parse('published = {"naive": [0.975, 0.092]}')
    found = {round(n.value, 6) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, float)}
    assert found & figures == {0.975, 0.092}


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_published_figure_is_typed_into_a_notebook(nb):
    figures = _published_literals()
    for _, src in code_cells(nb):
        consts = {round(n.value, 6) for n in ast.walk(ast.parse(src))
                  if isinstance(n, ast.Constant) and isinstance(n.value, float)}
        assert not consts & figures, f"{nb.name}: published figure(s) {sorted(consts & figures)} typed into a cell"


def test_every_notebook_has_a_cpu_profile_on_the_papers_data():
    """The cpu profile runs the papers' datasets and split sizes (not the digits) in bf16 on a CPU."""
    from unlearnlib.papers import PROFILE_NAMES, notebook_config

    assert "cpu" in PROFILE_NAMES
    for stem in ROOMS:
        cfg = notebook_config(stem, "cpu")
        assert cfg.dataset in ("mnist", "cifar10") and cfg.train.cpu_bf16, stem
    dau = notebook_config("02_discriminative_adversarial_unlearning", "cpu")
    assert dau.val_size == 5000 and dau.train_size is None and dau.sparsities == (0.0, 0.95)
    # DAU's swept values (results/cpu/02_sweeps), not the paper profile's, from DAU's presets
    d = dau.method_config("dau")
    assert (d.lr, d.alpha, d.lam) == (0.003, 0.3, 0.01)
    assert notebook_config("02_discriminative_adversarial_unlearning", "paper").method_config("dau").alpha == 1.0
    a = notebook_config("01_amnesiac_unlearning", "cpu")  # the authors' protocol on CIFAR-10, their CIFAR-100's stand-in
    assert (a.dataset, a.train.augment, a.val_size, a.shadow_data, a.class_keep) == ("cifar10", False, 0.5, "pool", 0.01)
    # encoders that memorise at a CPU budget (results/cpu/03_sweeps): 250 members attacked at the projector
    c = notebook_config("03_contrastive_unlearning", "cpu")
    assert (c.n_members, c.n_nonmembers, c.n_val, c.n_forget or c.n_members // 5) == (250, 10000, 250, 50)
    assert (c.ssl_epochs, c.ssl_lr, c.ssl_queue_size(), c.output) == (600, 1e-3, 125, "projector")


def test_notebook_03_output():
    """The output notebook 03 attacks is the one its gradient penalty unlearns; Table VII's classifier is unlearned
    at its logits; an unknown output, or an unlearning told another output than the attack's, is refused."""
    from unlearnlib.config import ConfigError
    from unlearnlib.papers import notebook_config

    q = notebook_config("03_contrastive_unlearning", "quick")
    assert q.output == "encoder" and q.unlearning_config(40).output == "encoder" and q.ssl_queue_size() == 4 * q.ssl_batch
    p = notebook_config("03_contrastive_unlearning", "quick", {"output": "projector"})
    assert p.unlearning_config(40).output == "projector" and p.supervised_unlearning_config(40).output == "encoder"
    assert p.supervised_unlearning_config(40).batch_size == p.unlearning_config(40).batch_size == 10
    with pytest.raises(ConfigError, match="output takes a value from \\['encoder', 'projector'\\], got 'head'"):
        notebook_config("03_contrastive_unlearning", "quick", {"output": "head"})
    with pytest.raises(ConfigError, match="gradient_penalty.output='projector' but the notebook's output='encoder'"):
        notebook_config("03_contrastive_unlearning", "quick", {"gradient_penalty.output": "projector"})


def test_notebook_03_supervised_recipes():
    """Table VII's supervised model: "adam" is the schedule notebook 03 always used (the same TrainConfig, so cached
    models still match); the cpu profile's "onecycle" is the cpu original's SGD recipe without augmentation; an
    unknown recipe is refused, naming the choices."""
    from unlearnlib.config import ConfigError
    from unlearnlib.papers import notebook_config
    from unlearnlib.train import TrainConfig

    q = notebook_config("03_contrastive_unlearning", "quick")
    assert q.sup_recipe == "adam"
    assert q.supervised_train() == TrainConfig(epochs=q.sup_epochs, batch_size=q.ssl_batch, optimizer="adam", lr=1e-3,
                                               weight_decay=0.0, schedule="constant", augment=False,
                                               cpu_bf16=q.train.cpu_bf16, seed=q.seed)
    c = notebook_config("03_contrastive_unlearning", "cpu", {"seed": 2})
    t = c.supervised_train()
    assert c.sup_recipe == "onecycle" and t.augment is False and t.seed == 2 and t.epochs == c.sup_epochs
    assert (t.optimizer, t.lr, t.schedule, t.nesterov, t.weight_decay) == ("sgd", 0.15, "onecycle", True, 5e-4)
    with pytest.raises(ConfigError, match="sup_recipe takes a value from \\['adam', 'onecycle'\\], got 'sgd'"):
        notebook_config("03_contrastive_unlearning", "cpu", {"sup_recipe": "sgd"})


def test_a_class_id_or_dataset_not_of_the_data_is_refused_before_anything_runs():
    """A class id outside the dataset's classes (notebook 01's target_class, notebook 02's forget_class) or an unknown
    dataset is a ConfigError when the config is built (run_all checks every -p before a notebook starts), naming the
    classes and the parameter; a valid id of a 100-class dataset passes."""
    from dataclasses import replace

    import numpy as np

    from unlearnlib.config import ConfigError
    from unlearnlib.papers import notebook_config

    with pytest.raises(ConfigError, match="target_class=12 is not a class of 'digits', whose classes are 0..9: pass one "
                                          "of them with -p TARGET_CLASS"):
        notebook_config("01_amnesiac_unlearning", "smoke", {"target_class": 12})
    with pytest.raises(ConfigError, match="forget_class=-1 is not a class of 'cifar10', whose classes are 0..9"):
        notebook_config("02_discriminative_adversarial_unlearning", "cpu", {"forget_class": -1})
    with pytest.raises(ConfigError, match="forget_class takes an integer, got 1.5"):
        notebook_config("02_discriminative_adversarial_unlearning", "cpu", {"forget_class": 1.5})
    with pytest.raises(ConfigError, match="unknown dataset 'cifar11'; choose one of \\['cifar10', 'cifar100'"):
        notebook_config("00_quickstart", "smoke", {"dataset": "cifar11"})
    assert notebook_config("01_amnesiac_unlearning", "smoke", {"dataset": "cifar100", "target_class": 81}).forget_class == 81
    assert notebook_config("02_discriminative_adversarial_unlearning", "smoke", {"forget_class": 9}).forget_class == 9
    assert replace(notebook_config("02_discriminative_adversarial_unlearning", "smoke"), forget_class=np.int64(3))
    with pytest.raises(ConfigError, match="forget_class=10 is not a class"):
        replace(notebook_config("02_discriminative_adversarial_unlearning", "smoke"), forget_class=np.int64(10))


def test_notebook_03_parts():
    """PARTS splits a seed of notebook 03 over invocations: every part by default, only the headline tables with
    headline_only; an unknown or empty part list, or one contradicting headline_only, is refused naming the choices."""
    from unlearnlib.config import ConfigError
    from unlearnlib.papers import notebook_config
    from unlearnlib.papers.contrastive import CONTRASTIVE_PARTS

    nb = "03_contrastive_unlearning"
    assert notebook_config(nb, "cpu").run_parts() == frozenset(CONTRASTIVE_PARTS)
    assert notebook_config(nb, "cpu", {"headline_only": True}).run_parts() == {"headline"}
    assert notebook_config(nb, "cpu", {"parts": ["ablation"]}).run_parts() == {"ablation"}
    assert notebook_config(nb, "cpu", {"parts": ["headline"], "headline_only": True}).run_parts() == {"headline"}
    with pytest.raises(ConfigError, match="parts takes a value from .*'figures'\\], got 'tables'"):
        notebook_config(nb, "cpu", {"parts": ["tables"]})
    with pytest.raises(ConfigError, match="got \\[\\]"):
        notebook_config(nb, "cpu", {"parts": []})
    with pytest.raises(ConfigError, match="headline_only=True runs only the headline tables, but parts=\\['amounts'\\]"):
        notebook_config(nb, "cpu", {"parts": ["amounts"], "headline_only": True})


def test_notebook_03_other_tables_start_from_the_base_encoder():
    """The tables outside Tables II-III and VII start from base_ssl (MoCo): a call of another encoder that would make
    them is refused, naming the three ways out, so one encoder's call (the paper profile's plan) cannot rebuild them
    on its encoder by accident; a headline-only call of it, a call that trains the base, or BASE_SSL run. base_ssl
    chooses tables, not what a stored row holds: it leaves the rows' fingerprint as it is."""
    from unlearnlib.config import ConfigError
    from unlearnlib.papers import notebook_config
    from unlearnlib.store import config_fingerprint

    nb = "03_contrastive_unlearning"
    assert notebook_config(nb, "cpu").base_ssl == "moco"
    with pytest.raises(ConfigError, match="parts \\['ablation', 'amounts', 'figures', 'retrained'\\] start from the base "
                                          "encoder 'moco' .*HEADLINE_ONLY True.*add 'moco' to SSL_METHODS.*BASE_SSL byol"):
        notebook_config(nb, "cpu", {"ssl_methods": ["byol"]})
    with pytest.raises(ConfigError, match="parts \\['figures'\\] start from the base encoder 'moco'.*pass -p PARTS "
                                          "'\\[\"headline\"\\]' for"):
        notebook_config(nb, "cpu", {"ssl_methods": ["simclr"], "parts": ["headline", "figures"]})
    with pytest.raises(ConfigError, match="base_ssl takes a value from .*, got 'swav'"):
        notebook_config(nb, "cpu", {"base_ssl": "swav"})
    assert notebook_config(nb, "cpu", {"ssl_methods": ["byol"], "headline_only": True}).run_parts() == {"headline"}
    assert notebook_config(nb, "cpu", {"ssl_methods": ["byol", "moco"]}).base_ssl == "moco"
    own = notebook_config(nb, "cpu", {"ssl_methods": ["byol"], "base_ssl": "byol"})
    assert own.base_ssl == "byol" and "ablation" in own.run_parts()
    assert config_fingerprint(own)[0] == config_fingerprint(notebook_config(nb, "cpu"))[0]


def test_notebook_00_runs_as_a_user_runs_it(tmp_path, monkeypatch):
    """Stepping through by hand: the committed notebook as it is, the profile chosen by $UNLEARNLIB_PROFILE (smoke),
    executed cell by cell with nbclient in the notebooks folder, no papermill. It writes to the scratch
    folder, never to results/, and leaves the committed notebook as it was."""
    import nbformat
    from nbclient import NotebookClient

    from unlearnlib import paths

    path = NOTEBOOKS[0]
    assert path.stem == "00_quickstart"
    before = path.read_bytes()
    nb = nbformat.read(path, as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert 'PROFILE = ""' in params.source  # the committed notebook names no profile: the environment chooses
    monkeypatch.setenv("UNLEARNLIB_PROFILE", "smoke")  # the kernel inherits it: the one way a hand run picks one
    monkeypatch.setenv("UNLEARNLIB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    scratch = paths.repo_root() / "build" / "scratch" / "smoke" / "00_quickstart"
    shutil.rmtree(scratch, ignore_errors=True)  # what the run writes, not an earlier run's files
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "a hand run: results go to build/scratch/smoke/00_quickstart" in outputs
    assert (scratch / "table_methods.csv").is_file()
    assert not any(o.get("output_type") == "error" for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert path.read_bytes() == before
