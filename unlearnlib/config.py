"""The one override parser: text from a command line (run_all's `-p NAME VALUE`, the sweep's `--grid`,
the benchmark's `--set`) becomes typed values of a frozen config dataclass, or a clear error before
anything runs.

    parse_literal("SEEDS", "[0, 1]")            -> [0, 1]
    apply_overrides(cfg, {"seeds": [0, 1]})     -> a copy of cfg with seeds (0, 1)

Errors name the parameter, what was wrong and what is accepted: an unknown name lists the known
ones, a value that does not parse says so, a value of the wrong type gives the expected type.
"""
from __future__ import annotations

import ast
import dataclasses
import types
import typing
from typing import Any

import numpy as np


class ConfigError(ValueError):
    """A parameter name or value that a config does not accept."""


def parse_literal(name: str, text: str) -> Any:
    """`text` as a Python literal (1, 0.5, None, True, [1, 2], 'x', {"a": 1}); a bare word that is not
    a literal (cuda, class) is taken as a string. A value that starts like a literal but does not parse
    ('[1,') is an error."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        if text and text[0] not in "[({'\"+-." and not text[0].isdigit():
            return text
        raise ConfigError(f"the value {text!r} of {name} is not a Python literal ({exc.__class__.__name__}); "
                          "write numbers as 1 or 0.5, lists as '[1, 2]', strings as '\"x\"'") from None


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(name: str, value: Any, tp) -> Any:
    """`value` checked against the annotation `tp` (and converted where lossless: int -> float,
    list -> tuple, dict -> a nested config); raises ConfigError naming `name`."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is type(None):
                continue
            try:
                return coerce(name, value, a)
            except ConfigError:
                pass  # try the union's next type; the error below names them all
        raise ConfigError(f"{name} takes {' or '.join(_type_name(a) for a in args)}, got {value!r}")
    if origin is typing.Literal:
        if value in args:
            return value
        raise ConfigError(f"{name} takes one of {list(args)}, got {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{name} takes a list, got {value!r}")
        if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
            items = [coerce(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)]
        elif args and origin is tuple:
            if len(args) != len(value):
                raise ConfigError(f"{name} takes {len(args)} values, got {value!r}")
            items = [coerce(f"{name}[{i}]", v, a) for i, (v, a) in enumerate(zip(value, args))]
        else:
            items = [coerce(f"{name}[{i}]", v, args[0]) for i, v in enumerate(value)] if args else list(value)
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, dict):
            return apply_overrides(tp(), value, prefix=f"{name}.")
        raise ConfigError(f"{name} takes a dict of {tp.__name__} fields, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_)):
            return float(value)
        raise ConfigError(f"{name} takes a number, got {value!r}")
    if tp is int:
        if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
            return int(value)
        raise ConfigError(f"{name} takes an integer, got {value!r}")
    if tp in (bool, str):
        if isinstance(value, tp):
            return value
        if tp is bool and isinstance(value, np.bool_):
            return bool(value)
        raise ConfigError(f"{name} takes {'True or False' if tp is bool else 'a string'}, got {value!r}")
    if isinstance(tp, type) and not isinstance(value, tp):
        raise ConfigError(f"{name} takes {tp.__name__}, got {value!r}")
    return value


def field_types(cls) -> dict[str, Any]:
    """Field name -> resolved annotation of a config dataclass."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.init}


def apply_overrides(cfg, overrides: dict[str, Any], prefix: str = ""):
    """A copy of the frozen dataclass `cfg` with `overrides` (field -> value) checked and applied.
    A nested config field takes a dict of its own fields, merged into its current value."""
    return dataclasses.replace(cfg, **checked_values(cfg, overrides, prefix))


def checked_values(cfg, overrides: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """`overrides` checked against the fields of the frozen dataclass `cfg`, as `apply_overrides` applies them: each
    value converted where lossless (`coerce`), a nested config's dict merged into its current value; an unknown
    field or a value of the wrong type is a ConfigError naming `prefix` + the field."""
    types_ = field_types(type(cfg))
    unknown = sorted(set(overrides) - set(types_))
    if unknown:
        raise ConfigError(f"unknown parameter(s) {[prefix + u for u in unknown]} for {type(cfg).__name__}; "
                          f"accepted: {sorted(prefix + k for k in types_)}")
    changes = {}
    for k, v in overrides.items():
        tp = types_[k]
        current = getattr(cfg, k)
        if dataclasses.is_dataclass(current) and isinstance(v, dict):
            changes[k] = apply_overrides(current, v, prefix=f"{prefix}{k}.")
        else:
            changes[k] = coerce(prefix + k, v, tp)
    return changes


def split_assignments(items: list[str], what: str = "--set", form: str = "FIELD=VALUE") -> dict[str, str]:
    """['a=1', 'b=x,y'] -> {'a': '1', 'b': 'x,y'}, the values as text. An item without '=' or a field given twice
    (the last would silently win) is a ConfigError naming `what` (the option) and the form it takes."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{what} {item!r}: expected {form}")
        key, value = (part.strip() for part in item.split("=", 1))
        if key in out:
            raise ConfigError(f"{what}: {key} is given twice ({key}={out[key]} and {key}={value}); give each field once")
        out[key] = value
    return out


def parse_assignments(items: list[str], what: str = "--set") -> dict[str, Any]:
    """['a=1', 'b=[1, 2]'] -> {'a': 1, 'b': [1, 2]} (values through `parse_literal`; `split_assignments`)."""
    return {key: parse_literal(key, value) for key, value in split_assignments(items, what).items()}


# ---------------------------------------------------------------- where a method's field acts

def scoped(default: Any, *, schemes: tuple[str, ...] | None = None, sparse: bool | None = None,
           absent: Any = dataclasses.MISSING):
    """A config field that acts only in some settings: in the forgetting `schemes` named, and (sparse=True) on pruned
    models only or (sparse=False) on dense ones only. The row store reads it (`acts_on`): a row of a setting where the
    field does not act does not depend on it, so rows stored under another value of the field are still this
    config's rows there (DAU's class-wise rate leaves its random-forgetting rows as they were).

    absent: for a field added after rows were stored whose default changes what the method does, the value those
    rows were computed with (the behaviour before the field existed). The store then reads a stored config without
    the field as holding `absent`, not the default (`store.as_stored`), so those rows stay apart from the new ones."""
    where = {k: v for k, v in (("schemes", tuple(schemes) if schemes else None), ("sparse", sparse)) if v is not None}
    meta = {"acts_on": where, **({"absent": absent} if absent is not dataclasses.MISSING else {})}
    return dataclasses.field(default=default, metadata=meta)


def acts_on(f: dataclasses.Field, setting: dict) -> bool:
    """Whether the config field `f` acts in `setting` ({"scheme": ..., "sparsity": ...}, a row's setting columns;
    a column the setting lacks cannot rule the field out). A field declared without `scoped` acts everywhere."""
    where = f.metadata.get("acts_on") or {}
    if "schemes" in where and "scheme" in setting and setting["scheme"] not in where["schemes"]:
        return False
    if "sparse" in where and "sparsity" in setting and (float(setting["sparsity"]) > 0) != where["sparse"]:
        return False
    return True
