"""unlearnlib: machine unlearning methods, attacks and metrics for reproducing three papers."""
from .data import DeviceData, Dataset, Split, load_dataset, make_split, to_device
from .evaluation import collect, evaluate, outputs, results_table
from .methods import get_method, list_methods, unlearn
from .models import create_model, list_models, prune_global
from .originals import train_original
from .train import TrainConfig, accuracy, fit, predict, resolve_device

__version__ = "0.1.0"
__all__ = ["Dataset", "DeviceData", "Split", "TrainConfig", "accuracy", "collect", "create_model", "evaluate", "fit",
           "get_method", "list_methods", "list_models", "load_dataset", "make_split", "outputs", "predict",
           "prune_global", "resolve_device", "results_table", "to_device", "train_original", "unlearn"]
