"""One call evaluates a model on a Split and returns a table row (a dict); `assess_encoder` does the same
for an SSL encoder (Wang & Chen's columns)."""
from __future__ import annotations

import hashlib
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from .attacks.encodermi import EncoderMIAttack, cosine_features
from .attacks.mia import svc_mia
from .cache import cache_key, entry_path, load_entry, save_entry, tensor_bytes, weights_fingerprint
from .data import DeviceData, Split
from .metrics import accuracy_pct, avg_disparity, softmax, unlearning_accuracy
from .ssl import check_output, embed, knn_accuracy, linear_eval, output_view, sample_stats
from .train import predict


@dataclass
class Outputs:
    """Softmax outputs (N, K) and labels of each part of a split, as numpy arrays."""

    probs: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]


def outputs(model: nn.Module, data: DeviceData, split: Split,
            parts=("forget", "retain", "val", "test", "test_forget")) -> Outputs:
    probs, labels = {}, {}
    for part in parts:
        idx = getattr(split, part)
        x, y = data.test_part(idx) if part.startswith("test") else data.train_part(idx)
        logits = predict(model, x).numpy() if len(idx) else np.zeros((0, data.num_classes))
        probs[part] = softmax(logits) if len(idx) else logits
        labels[part] = y.cpu().numpy()
    return Outputs(probs, labels)


class PendingRow:
    """A table row whose SVC attacks still run in an executor; `result()` waits and returns the dict."""

    def __init__(self, row: dict, futures: dict[str, Future]):
        self._row, self._futures = row, futures

    def result(self) -> dict:
        for col, fut in self._futures.items():
            self._row[col] = fut.result()
        self._futures = {}
        return self._row


def collect(rows) -> list[dict]:
    """Rows from `evaluate`, some of them pending, as plain dicts (waits for the pending ones)."""
    return [r.result() if isinstance(r, PendingRow) else r for r in rows]


def evaluate(model: nn.Module, data: DeviceData, split: Split, *, method: str = "",
             runtime_s: float | None = None, mia_max_per_side: int | None = None, seed: int = 0,
             mia_kinds=(), executor: Executor | None = None):
    """UA, MIA-Efficacy, RA, TA (percent) and run time of `model` on `split`.

    MIA-Efficacy: SVC on confidence, retain (members) vs test (non-members), balanced and
    capped at mia_max_per_side per side; percent of forget predicted non-member. Each further
    feature kind in `mia_kinds` (correctness, entropy, modified_entropy, ...) adds a column
    mia_<kind>_pct. For class-wise splits, TA is on the retained classes and
    test_forget_acc_pct on the forgotten ones.

    The SVC fits take seconds each on a CPU (10,000 samples a side at the paper profile); with an
    `executor` (a ThreadPoolExecutor: libsvm releases the GIL) they run in the background and a
    PendingRow is returned, so the next method can train meanwhile: pass the rows to `collect`.
    """
    out = outputs(model, data, split)
    p, y = out.probs, out.labels
    acc = {k: accuracy_pct(p[k].argmax(1), y[k]) if len(y[k]) else float("nan") for k in p}
    row = {
        "method": method,
        "ua_pct": unlearning_accuracy(p["forget"].argmax(1), y["forget"]),
        "mia_efficacy_pct": None,
        "ra_pct": acc["retain"],
        "ta_pct": acc["test"],
        "forget_acc_pct": acc["forget"],
        "val_acc_pct": acc["val"],
        "test_forget_acc_pct": acc["test_forget"],
    }
    if runtime_s is not None:
        row["runtime_s"] = float(runtime_s)
    columns = {"mia_efficacy_pct": "confidence"}
    columns.update({f"mia_{k}_pct": k for k in mia_kinds})

    def attack(kind):
        return svc_mia(p["retain"], y["retain"], p["test"], y["test"], p["forget"], y["forget"], (kind,),
                       max_per_side=mia_max_per_side, seed=seed)[kind]

    if executor is None:
        row.update({col: attack(kind) for col, kind in columns.items()})
        return row
    return PendingRow(row, {col: executor.submit(attack, kind) for col, kind in columns.items()})


def results_table(rows: list[dict], reference: str | None = "retrain") -> pd.DataFrame:
    """Rows -> DataFrame; adds avg_disparity (vs. the `reference` method's row) when present."""
    df = pd.DataFrame(rows)
    if reference is not None and "method" in df and (df["method"] == reference).any():
        ref = df[df["method"] == reference].iloc[0].to_dict()
        df["avg_disparity"] = [avg_disparity(r, ref) for r in df.to_dict("records")]
    return df


# --------------------------------------------------------------------------- encoders (Wang & Chen's tables)


@dataclass
class EncoderProbe:
    """The fixed samples an encoder is assessed on (notebook 03): retain and validation (the EncoderMI
    attack's known members and non-members), forget and test (the attack's target: forgotten members vs
    never-seen images), and all members with their labels (the kNN bank). Views are drawn from a
    generator seeded with `seed` before every call, so every model sees the same views. `output` (ssl.SSL_OUTPUTS)
    is the SSL model output the attack and the per-sample statistics read: the encoder's features or the projector's
    output; kNN and linear evaluation read the features.

    The test images are held in a random order (drawn with `seed`), because the attack and the figures take a
    prefix of them as non-members: in the stored order that prefix can be one or two classes (the offline
    CIFAR-10 copy keeps its test images grouped by class, so its first 2,000 are airplanes and automobiles),
    which the attack would then tell apart from the forget set by class, not by membership."""

    xr: torch.Tensor
    xv: torch.Tensor
    xf: torch.Tensor
    xt: torch.Tensor
    yt: torch.Tensor
    xm: torch.Tensor
    ym: torch.Tensor
    num_classes: int
    views: int = 10
    seed: int = 0
    linear_epochs: int = 30
    output: str = "encoder"
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_split(cls, data: DeviceData, split: Split, views: int = 10, seed: int = 0,
                   linear_epochs: int = 30, output: str = "encoder") -> "EncoderProbe":
        xr, _ = data.train_part(split.retain)
        xv, _ = data.train_part(split.val)
        xf, _ = data.train_part(split.forget)
        xt, yt = data.test_part(split.test)
        order = torch.randperm(len(xt), generator=torch.Generator().manual_seed(seed)).to(xt.device)
        xt, yt = xt[order], yt[order]  # any prefix: a sample of every class (see the class docstring)
        xm, ym = data.train_part(split.train)
        return cls(xr, xv, xf, xt, yt, xm, ym, data.num_classes, views, seed, linear_epochs, check_output(output))

    def fingerprint(self) -> str:
        """Short hash of every image and label the probe holds, in order, and of its views, seed, linear epochs and output
        (computed once): with the model's weights, it names a cached assessment."""
        if self._fingerprint is None:
            # the output only when not the default, so that the encoder's assessments keep the keys they were cached under
            read = "" if self.output == "encoder" else f"{self.output};"
            h = hashlib.sha1(f"{self.num_classes}:{self.views}:{self.seed}:{self.linear_epochs};{read}".encode())
            for t in (self.xr, self.xv, self.xf, self.xt, self.yt, self.xm, self.ym):
                h.update(f"{t.dtype}{tuple(t.shape)};".encode())
                h.update(tensor_bytes(t))
            self._fingerprint = h.hexdigest()[:20]
        return self._fingerprint

    def generator(self) -> torch.Generator:
        return torch.Generator(device=self.xf.device).manual_seed(self.seed)

    def similarities(self, model: nn.Module, x: torch.Tensor) -> np.ndarray:
        """EncoderMI's features: the sorted pairwise cosine similarities of `views` views of each image."""
        return cosine_features(output_view(model, self.output), x, self.views, generator=self.generator())

    def stats(self, model: nn.Module, x: torch.Tensor) -> dict[str, np.ndarray]:
        """Per-sample TOP1 / LOSS / COSSIM (`ssl.sample_stats`) with this probe's views, at its output."""
        return sample_stats(model, x, self.generator(), output=self.output)

    def outputs(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """`model`'s outputs on x at this probe's output, (N, D) float32 (e.g. for a t-SNE of what the attack reads)."""
        return embed(output_view(model, self.output), x)


# bump when what assess_encoder or fit_encoder_attack measure changes: cached results of older code are then not used
ASSESS_VERSION = 1


def _through_json_cache(cache: bool, compute: Callable[[], dict], **key_parts) -> dict:
    """compute() (a JSON-able dict), or the one cached under `key_parts` (kind "assessed"), so that a notebook cut
    mid-way does not measure again what it had measured (notebook 03 at the cpu profile: minutes an assessment)."""
    if not cache:
        return compute()
    path = entry_path("assessed", cache_key(version=ASSESS_VERSION, **key_parts))
    entry = load_entry(path)
    if entry is not None:
        return entry[1]
    result = compute()
    save_entry(path, {}, result)
    return result


def _probe_key(model: nn.Module, probe: EncoderProbe) -> dict:
    return {"model": weights_fingerprint(model), "probe": probe.fingerprint(), "device": probe.xf.device.type}


def fit_encoder_attack(model: nn.Module, probe: EncoderProbe, kind: str = "threshold", *,
                       cache: bool = False) -> EncoderMIAttack:
    """An EncoderMI attack fitted on `model`'s retain (members) vs validation (non-members) similarities. With
    `cache`, a threshold attack's threshold is kept on disk (`_through_json_cache`), keyed by the model's weights
    and the probe."""
    def fit():
        n = min(len(probe.xr), len(probe.xv))
        return EncoderMIAttack.fit(probe.similarities(model, probe.xr[:n]), probe.similarities(model, probe.xv[:n]), kind)
    if not cache or kind != "threshold":
        return fit()
    saved = _through_json_cache(True, lambda: {"threshold": float(fit().model)}, what="attack", kind=kind,
                                **_probe_key(model, probe))
    return EncoderMIAttack(kind, saved["threshold"])


def assess_encoder(model: nn.Module, probe: EncoderProbe, attack: EncoderMIAttack | None = None, linear: bool = False,
                   label: str = "", *, cache: bool = False) -> dict:
    """One row of Wang & Chen's tables: ACC (weighted kNN; linear evaluation when `linear`), MIA accuracy,
    precision, recall and AUC on forget vs test (an equal number of each) of `attack` (EncoderMI-T; None:
    fitted on this model), EncoderMI-V fitted on this model, and the forget set's mean TOP1 / LOSS / COSSIM.

    With `cache`, the row is kept on disk, keyed by the model's weights, the probe (`EncoderProbe.fingerprint`),
    the attack (None, or a threshold attack's threshold; any other attack is never cached) and `linear`."""
    cache = cache and (attack is None or attack.kind == "threshold")  # a threshold attack is named by its number
    key = ({"attack": "refit" if attack is None else f"threshold {float(attack.model)!r}", "linear": linear,
            **_probe_key(model, probe)} if cache else {})
    row = _through_json_cache(cache, lambda: _assess(model, probe, attack, linear), what="assessment", **key)
    return {"model": label, **{k: v for k, v in row.items() if k != "model"}}


def _assess(model: nn.Module, probe: EncoderProbe, attack: EncoderMIAttack | None, linear: bool) -> dict:
    n = min(len(probe.xr), len(probe.xv))
    fr, fv = probe.similarities(model, probe.xr[:n]), probe.similarities(model, probe.xv[:n])
    attack = attack or EncoderMIAttack.fit(fr, fv, "threshold")
    n = min(len(probe.xf), len(probe.xt))
    ff, ft = probe.similarities(model, probe.xf[:n]), probe.similarities(model, probe.xt[:n])
    mia = attack.evaluate(ff, ft)
    mia_v = EncoderMIAttack.fit(fr, fv, "vector").evaluate(ff, ft)
    bank, queries = embed(model, probe.xm), embed(model, probe.xt)
    row = {"knn_acc_pct": knn_accuracy(bank, probe.ym, queries, probe.yt, probe.num_classes),
           "mia_acc_pct": mia["accuracy_pct"], "mia_precision_pct": mia["precision_pct"],
           "mia_recall_pct": mia["recall_pct"], "mia_auc": mia["auc"],
           "mia_vector_acc_pct": mia_v["accuracy_pct"], "mia_vector_auc": mia_v["auc"]}
    if linear:
        row["linear_acc_pct"] = linear_eval(bank, probe.ym, queries, probe.yt, probe.num_classes,
                                            epochs=probe.linear_epochs, seed=probe.seed)
    row.update({f"forget_{k}": float(v.mean()) for k, v in probe.stats(model, probe.xf).items()})
    return {k: (float(v) if isinstance(v, (np.floating, np.integer)) else v) for k, v in row.items()}


def member_stats_frame(models: dict[str, nn.Module], probe: EncoderProbe) -> pd.DataFrame:
    """Per-sample TOP1 / LOSS / COSSIM of forget (members) and as many test images (non-members), per model."""
    frames = []
    for label, model in models.items():
        for part, x in (("member (forget)", probe.xf), ("non-member (test)", probe.xt[:len(probe.xf)])):
            frames.append(pd.DataFrame({**probe.stats(model, x), "data": part, "model": label}))
    return pd.concat(frames, ignore_index=True)


def top1_confidence(model: nn.Module, x: torch.Tensor) -> float:
    """Mean top-1 softmax confidence of `model` on x (Table VII's MTop1 / NMTop1)."""
    return float(torch.softmax(predict(model, x).float(), 1).max(1).values.mean())
