"""Where things live, and the settings loader every door shares.

`data_dir` and `models_dirs` say where the data and the models are. `load_settings` builds one
door's settings object, a frozen dataclass, from layers applied lowest first: the class's defaults,
the door's table of a TOML file (`[serve]`, `[hybrid]`, `[batch]`; `--config FILE`, else
`$MLEDITOR_<SECTION>_CONFIG`, else `$MLEDITOR_CONFIG`), then `MLEDITOR_<SECTION>_<FIELD>`
variables; the CLI applies its flags last with `dataclasses.replace`.

The invariant: a settings object that exists is valid, and every value that was read was checked
with its source. Values are converted by their field's annotation alone (bool, int, float, str,
`str | None`, `tuple[str, ...]`); a class checks itself in `__post_init__` with `check_settings`
and its `Check`s; an unknown key is refused naming the known ones; and every bad value, whatever
its source, is refused in one shape:

    <section> <key>=<value> is not valid; expected <what>[ (from <file or variable>)]

Nothing here reads the environment or a file at import.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import tomllib
import types
import typing
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from mleditor.errors import InvalidInputError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DEFAULT_DATA_DIR = "../shared/data"
PACKAGED_MODELS_DIR = Path(__file__).parent / "models"
CONFIG_ENV = "MLEDITOR_CONFIG"
SECTIONS = ("serve", "hybrid", "batch")  # the tables a settings file may hold

S = TypeVar("S", bound="DataclassInstance")


def data_dir(environ: dict[str, str] | None = None) -> Path:
    """The Stack Exchange dumps: $MLEDITOR_DATA, else ../shared/data (relative to the working directory)."""
    env = os.environ if environ is None else environ
    return Path(env.get("MLEDITOR_DATA", DEFAULT_DATA_DIR)).expanduser()


def dump_dirs(environ: dict[str, str] | None = None) -> list[Path]:
    """Every site folder holding a Posts.xml in every `stackexchange*/` folder of the data dir, in name order.

    `../shared/data` has `stackexchange/` and `stackexchange-more/`; two dumps of one site (`ai` and
    `ai-2017`) are both listed: the dataset merges them (`mleditor.core.dataset.merge_same_sites`).
    """
    root = data_dir(environ)
    return sorted((p.parent for p in root.glob("stackexchange*/*/Posts.xml")), key=lambda p: (p.parent.name, p.name))


def models_dirs(environ: dict[str, str] | None = None) -> list[Path]:
    """Registry roots searched for model directories: $MLEDITOR_MODELS (colon-separated) then the shipped ones."""
    env = os.environ if environ is None else environ
    extra = [Path(p).expanduser() for p in env.get("MLEDITOR_MODELS", "").split(os.pathsep) if p]
    return [*extra, PACKAGED_MODELS_DIR]


# --- checks: what a class declares about its values ---------------------------------------------


@dataclass(frozen=True)
class Check:
    """A rule for one setting: `ok(value)` says whether it holds, `expected` says in words what it accepts."""

    ok: Callable[[Any], bool]
    expected: str


def at_least(low: float, expected: str | None = None) -> Check:
    """The value is `low` or more."""
    return Check(lambda value: value >= low, expected or f"at least {low}")


def more_than(low: float, expected: str | None = None) -> Check:
    """The value is strictly more than `low`."""
    return Check(lambda value: value > low, expected or f"more than {low}")


def between(low: float, high: float, expected: str | None = None) -> Check:
    """The value is from `low` to `high`, both included."""
    return Check(lambda value: low <= value <= high, expected or f"{low} to {high}")


def one_of(choices: Collection[str]) -> Check:
    """The value is one of `choices`."""
    return Check(lambda value: value in choices, f"one of {', '.join(choices)}")


def each_one_of(choices: Collection[str], what: str) -> Check:
    """Every item of the list is one of `choices` (`what` names them: "model versions")."""
    return Check(lambda value: set(value) <= set(choices), f"{what} among {', '.join(choices)}")


def invalid_message(section: str, key: str, value: object, expected: str, source: str | None = None) -> str:
    """The one shape of a bad setting: `<section> <key>=<value> is not valid; expected <what>`, then its source."""
    where = f" (from {source})" if source else ""
    return f"{section} {key}={value!r} is not valid; expected {expected}{where}"


def check_settings(settings: DataclassInstance, section: str, checks: Mapping[str, Check]) -> None:
    """Refuse a field whose value is not of its annotated type or breaks its check (call from `__post_init__`)."""
    hints = _hints(type(settings))
    unknown = set(checks) - set(hints)
    if unknown:
        raise TypeError(f"checks name fields that {type(settings).__name__} lacks: {', '.join(sorted(unknown))}")
    for key, hint in hints.items():
        value = getattr(settings, key)
        kind = _kind(hint)
        if not kind.accepts(value):
            raise InvalidInputError(invalid_message(section, key, value, kind.expected))
        check = checks.get(key)
        if check is not None and not check.ok(value):
            raise InvalidInputError(invalid_message(section, key, value, check.expected))


# --- loading: defaults, then the file, then the environment ---------------------------------------


def env_prefix(section: str) -> str:
    """`MLEDITOR_<SECTION>_`, the prefix of a door's variables."""
    return f"MLEDITOR_{section.upper()}_"


def load_settings(cls: type[S], section: str, path: Path | str | None = None,
                  environ: Mapping[str, str] | None = None) -> S:
    """`cls()` with the `[section]` table of the TOML file `path` applied, then the `MLEDITOR_<SECTION>_*` variables.

    Without `path`, the file is `$MLEDITOR_<SECTION>_CONFIG`, else `$MLEDITOR_CONFIG`, else none.
    Each layer is checked as it is applied, so a refused value names the file or variable it came from.
    """
    env = os.environ if environ is None else environ
    settings = cls()
    file = Path(path) if path is not None else _config_file(section, env)
    if file is not None:
        settings = _applied(settings, _read_table(cls, section, file), source=str(file))
    for name, key, value in _read_env(cls, section, env):
        settings = _applied(settings, {key: value}, source=name)
    return settings


def settings_to_env(settings: DataclassInstance, section: str) -> dict[str, str]:
    """Every field as a `MLEDITOR_<SECTION>_<FIELD>` variable that `load_settings` reads back to the same value."""
    prefix = env_prefix(section)
    return {prefix + key.upper(): _to_text(getattr(settings, key)) for key in _hints(type(settings))}


def _config_file(section: str, env: Mapping[str, str]) -> Path | None:
    name = next((n for n in (env_prefix(section) + "CONFIG", CONFIG_ENV) if env.get(n)), None)
    return Path(env[name]) if name else None


def _applied(settings: S, values: Mapping[str, Any], source: str) -> S:
    """`settings` with `values` replaced; the class's own checks refuse a bad one, named with `source`."""
    try:
        return dataclasses.replace(settings, **values)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{exc} (from {source})") from None


def _read_table(cls: type[DataclassInstance], section: str, path: Path) -> dict[str, Any]:
    data = _read_toml(path, section)
    unknown = [name for name in data if name not in (*SECTIONS, section)]
    if unknown:
        raise InvalidInputError(f"{path}: unknown table [{unknown[0]}]; known: {', '.join(SECTIONS)}")
    table = data.get(section, {})
    if not isinstance(table, dict):
        raise InvalidInputError(f"{path}: [{section}] must be a table of settings")
    hints = _hints(cls)
    values = {}
    for key, raw in table.items():
        if key not in hints:
            raise InvalidInputError(f"{path}: unknown setting {section}.{key}; known: {', '.join(hints)}")
        values[key] = _converted(section, key, raw, hints[key], source=str(path))
    return values


def _read_toml(path: Path, section: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInputError(f"settings file {path} not found; check --config, "
                                f"${env_prefix(section)}CONFIG or ${CONFIG_ENV}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInputError(f"settings file {path} cannot be read: {exc}") from None


def _read_env(cls: type[DataclassInstance], section: str, env: Mapping[str, str]) -> Iterator[tuple[str, str, Any]]:
    """(variable, key, value) for each `MLEDITOR_<SECTION>_*` variable but the config file's, in name order."""
    prefix = env_prefix(section)
    hints = _hints(cls)
    for name in sorted(env):
        if not name.startswith(prefix) or name == prefix + "CONFIG":
            continue
        key = name[len(prefix):].lower()
        if key not in hints:
            raise InvalidInputError(f"unknown setting {name}; known: {', '.join(prefix + k.upper() for k in hints)}")
        yield name, key, _converted(section, key, env[name], hints[key], source=name)


def _converted(section: str, key: str, raw: Any, hint: object, source: str) -> Any:
    """A TOML value or a variable's text as the field's type; refused in the one shape if it does not fit."""
    kind = _kind(hint)
    try:
        return kind.convert(raw)
    except (TypeError, ValueError):
        raise InvalidInputError(invalid_message(section, key, raw, kind.expected, source)) from None


# --- kinds: the field types a settings class may use ------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """One supported field type: what it accepts, how raw input becomes it, and its name in messages."""

    expected: str
    accepts: Callable[[Any], bool]
    convert: Callable[[Any], Any]  # raises TypeError or ValueError for input that does not fit


def _to_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    word = raw.strip().lower() if isinstance(raw, str) else None
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError(raw)


def _to_int(raw: Any) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):  # int(2.5) would truncate silently
        raise TypeError(raw)
    return int(raw)


def _to_float(raw: Any) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise TypeError(raw)
    value = float(raw)
    if math.isnan(value):  # NaN passes no comparison, so it would slip through every range check
        raise ValueError(raw)
    return value


def _to_text(raw: Any) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if raw is None:
        return ""
    if isinstance(raw, tuple):
        return ",".join(raw)
    return str(raw)


def _to_str(raw: Any) -> str:
    if not isinstance(raw, str):
        raise TypeError(raw)
    return raw


def _to_optional_str(raw: Any) -> str | None:
    return None if raw in ("", None) else _to_str(raw)


def _to_str_tuple(raw: Any) -> tuple[str, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple) or not all(isinstance(item, str) for item in items):
        raise TypeError(raw)
    return tuple(item.strip() for item in items if item.strip())


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and not math.isnan(value)


_BOOL = _Kind("true or false", lambda v: isinstance(v, bool), _to_bool)
_INT = _Kind("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool), _to_int)
_FLOAT = _Kind("a number", _is_number, _to_float)
_STR = _Kind("text", lambda v: isinstance(v, str), _to_str)
_OPTIONAL_STR = _Kind("text (empty for none)", lambda v: v is None or isinstance(v, str), _to_optional_str)
_STR_TUPLE = _Kind("a list of strings (comma-separated in a variable)",
                   lambda v: isinstance(v, tuple) and all(isinstance(i, str) for i in v), _to_str_tuple)


def _kind(hint: object) -> _Kind:
    """The kind of a field annotation; any other annotation is a programming error."""
    simple = {bool: _BOOL, int: _INT, float: _FLOAT, str: _STR}
    if isinstance(hint, type) and hint in simple:
        return simple[hint]
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and set(args) == {str, type(None)}:
        return _OPTIONAL_STR
    if origin is tuple and args == (str, ...):
        return _STR_TUPLE
    raise TypeError(f"settings field type {hint!r} is not supported; use bool, int, float, str, "
                    "str | None or tuple[str, ...]")


@functools.cache
def _hints(cls: type[DataclassInstance]) -> dict[str, object]:
    """The dataclass fields of `cls` and their resolved annotations, in declaration order."""
    resolved = typing.get_type_hints(cls)
    return {field.name: resolved[field.name] for field in dataclasses.fields(cls)}
