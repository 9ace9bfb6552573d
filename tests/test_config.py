"""The shared settings loader: defaults, then a door's TOML table, then MLEDITOR_<DOOR>_* variables.

Every settings class is covered field by field: each field fed a bad value, from the file, from a
variable or in code, is refused in the one shape `<section> <key>=<value> is not valid; expected …`.
"""

from __future__ import annotations

import dataclasses
import doctest
import re
import subprocess
import sys
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import mleditor.hybrid.settings
import mleditor.serve.settings
from mleditor import config
from mleditor.config import check_settings, load_settings, settings_to_env
from mleditor.errors import InvalidInputError
from mleditor.hybrid.settings import HybridSettings
from mleditor.serve.settings import ServeSettings

DOORS: list[tuple[type[Any], str]] = [(ServeSettings, "serve"), (HybridSettings, "hybrid")]
FIELDS = [(cls, section, f.name) for cls, section in DOORS for f in dataclasses.fields(cls)]
FIELD_IDS = [f"{section}.{key}" for _, section, key in FIELDS]

# A value of the wrong kind for each field type, as a TOML literal and as a Python value.
WRONG_IN_FILE: dict[object, str] = {bool: '"maybe"', int: '"many"', float: '"many"', str: "5",
                                    str | None: "5", tuple[str, ...]: "5"}
WRONG_IN_CODE: dict[object, object] = {bool: "yes", int: "1", float: "1.5", str: 5, str | None: 5,
                                       tuple[str, ...]: ["v1"]}
WRONG_IN_VARIABLE: dict[object, str] = {bool: "maybe", int: "many", float: "many"}  # any text is a str

# A value of the right type that breaks the field's check, for every check of every class.
BREAKS_CHECK: dict[tuple[str, str], object] = {
    ("serve", "port"): 70000, ("serve", "workers"): 0, ("serve", "model_threads"): -1,
    ("serve", "anonymous_scopes"): ("v1", "v9"), ("serve", "max_batch_size"): 0,
    ("serve", "max_wait_ms"): 10_001.0, ("serve", "cache_size"): -1, ("serve", "rate_limit_per_minute"): -1,
    ("serve", "rate_limit_backend"): "redis",
    ("serve", "max_request_bytes"): 0, ("serve", "body_timeout_s"): 0.0, ("serve", "log_level"): "loud",
    ("serve", "graceful_timeout_s"): -1.0,
    ("serve", "body_deadline_s"): 0.0, ("serve", "header_deadline_s"): -1.0,
    ("serve", "max_connections_per_client"): -1, ("serve", "operator_access"): "closed",
    ("hybrid", "ttl_s"): 0.0, ("hybrid", "lookup_timeout_s"): -0.5,
}
CHECKED = [(cls, section, key) for cls, section in DOORS for key in cls.checks]


def hint(cls: type[Any], key: str) -> object:
    return typing.get_type_hints(cls)[key]


def as_text(value: object) -> str:
    return ",".join(value) if isinstance(value, tuple) else str(value)


def assert_one_shape(exc: pytest.ExceptionInfo[InvalidInputError], section: str, key: str,
                     source: str | None) -> None:
    where = rf" \(from {re.escape(source)}\)" if source else ""
    assert re.fullmatch(rf"{section} {key}=.+ is not valid; expected .+?{where}", str(exc.value)), str(exc.value)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("cls, section", DOORS)
def test_with_nothing_set_every_door_gets_its_class_defaults(cls: type[Any], section: str) -> None:
    assert load_settings(cls, section, environ={}) == cls()


def test_the_door_modules_load_the_documented_defaults() -> None:
    assert mleditor.serve.settings.load_settings(environ={}).port == 8000
    hybrid = mleditor.hybrid.settings.load_settings(environ={})
    assert (hybrid.store, hybrid.ttl_s, hybrid.lookup_timeout_s) == (None, 7 * 24 * 3600.0, 0.5)


def test_variables_override_the_file_which_overrides_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[serve]\nport = 9000\nworkers = 3\n\n[hybrid]\nstore = "sqlite:///a.db"\nttl_s = 60\n')
    env = {"MLEDITOR_SERVE_PORT": "9100", "MLEDITOR_HYBRID_TTL_S": "120"}
    serve = load_settings(ServeSettings, "serve", path, env)
    hybrid = load_settings(HybridSettings, "hybrid", path, env)
    assert (serve.port, serve.workers, serve.host) == (9100, 3, "127.0.0.1")
    assert (hybrid.store, hybrid.ttl_s, hybrid.lookup_timeout_s) == ("sqlite:///a.db", 120.0, 0.5)


def test_the_file_is_the_given_path_then_the_door_variable_then_the_shared_one(tmp_path: Path) -> None:
    shared, door, given = (tmp_path / name for name in ("shared.toml", "door.toml", "given.toml"))
    for path, size in ((shared, 1), (door, 2), (given, 3)):
        path.write_text(f"[serve]\ncache_size = {size}\n", encoding="utf-8")
    env = {"MLEDITOR_CONFIG": str(shared)}
    assert load_settings(ServeSettings, "serve", environ=env).cache_size == 1
    env["MLEDITOR_SERVE_CONFIG"] = str(door)
    assert load_settings(ServeSettings, "serve", environ=env).cache_size == 2
    assert load_settings(ServeSettings, "serve", given, env).cache_size == 3


def test_a_door_reads_only_its_own_table_and_variables(tmp_path: Path) -> None:
    path = write(tmp_path, '[serve]\nport = 9000\n\n[batch]\n')
    env = {"MLEDITOR_SERVE_PORT": "9100", "MLEDITOR_HYBRID_STORE": "sqlite:///a.db"}
    assert load_settings(HybridSettings, "hybrid", path, {"MLEDITOR_SERVE_PORT": "9100"}) == HybridSettings()
    assert load_settings(ServeSettings, "serve", path, env) == ServeSettings(port=9100)


@pytest.mark.parametrize("cls, section", DOORS)
def test_an_unknown_key_in_the_file_is_refused_naming_the_known_ones(tmp_path: Path, cls: type[Any],
                                                                      section: str) -> None:
    path = write(tmp_path, f"[{section}]\ntypo = 1\n")
    with pytest.raises(InvalidInputError, match=rf"unknown setting {section}\.typo; known: "):
        load_settings(cls, section, path, {})


@pytest.mark.parametrize("cls, section", DOORS)
def test_an_unknown_variable_of_the_door_is_refused_naming_the_known_ones(cls: type[Any], section: str) -> None:
    name = f"MLEDITOR_{section.upper()}_TYPO"
    first = f"MLEDITOR_{section.upper()}_{dataclasses.fields(cls)[0].name.upper()}"
    with pytest.raises(InvalidInputError, match=rf"unknown setting {name}; known: {first}, "):
        load_settings(cls, section, environ={name: "1"})


def test_an_unknown_table_or_a_table_that_is_not_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown table \[serv\]; known: serve, hybrid, batch"):
        load_settings(ServeSettings, "serve", write(tmp_path, "[serv]\nport = 1\n"), {})
    with pytest.raises(InvalidInputError, match=r"\[serve\] must be a table"):
        load_settings(ServeSettings, "serve", write(tmp_path, "serve = 1\n"), {})


def test_a_missing_or_broken_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"missing.toml not found; check --config, .*MLEDITOR_CONFIG"):
        load_settings(HybridSettings, "hybrid", environ={"MLEDITOR_CONFIG": str(tmp_path / "missing.toml")})
    with pytest.raises(InvalidInputError, match=r"settings.toml cannot be read"):
        load_settings(HybridSettings, "hybrid", write(tmp_path, "[hybrid\n"), {})


@pytest.mark.parametrize("cls, section, key", FIELDS, ids=FIELD_IDS)
def test_every_field_given_the_wrong_kind_in_the_file_is_refused_in_the_one_shape(
        tmp_path: Path, cls: type[Any], section: str, key: str) -> None:
    path = write(tmp_path, f"[{section}]\n{key} = {WRONG_IN_FILE[hint(cls, key)]}\n")
    with pytest.raises(InvalidInputError) as exc:
        load_settings(cls, section, path, {})
    assert_one_shape(exc, section, key, str(path))


@pytest.mark.parametrize("cls, section, key", FIELDS, ids=FIELD_IDS)
def test_every_field_given_the_wrong_kind_in_code_is_refused_in_the_one_shape(
        cls: type[Any], section: str, key: str) -> None:
    with pytest.raises(InvalidInputError) as exc:
        cls(**{key: WRONG_IN_CODE[hint(cls, key)]})
    assert_one_shape(exc, section, key, None)


@pytest.mark.parametrize("cls, section, key", [f for f in FIELDS if hint(f[0], f[2]) in WRONG_IN_VARIABLE])
def test_every_field_given_text_that_is_not_its_kind_in_a_variable_is_refused_in_the_one_shape(
        cls: type[Any], section: str, key: str) -> None:
    name = f"MLEDITOR_{section.upper()}_{key.upper()}"
    with pytest.raises(InvalidInputError) as exc:
        load_settings(cls, section, environ={name: WRONG_IN_VARIABLE[hint(cls, key)]})
    assert_one_shape(exc, section, key, name)


def test_every_check_of_every_class_has_a_value_that_breaks_it() -> None:
    assert set(BREAKS_CHECK) == {(section, key) for _, section, key in CHECKED}


@pytest.mark.parametrize("cls, section, key", CHECKED)
def test_every_checked_field_out_of_range_is_refused_in_the_one_shape_wherever_it_comes_from(
        tmp_path: Path, cls: type[Any], section: str, key: str) -> None:
    bad = BREAKS_CHECK[section, key]
    name = f"MLEDITOR_{section.upper()}_{key.upper()}"
    path = write(tmp_path, f"[{section}]\n{key} = {bad!r}\n".replace("(", "[").replace(")", "]"))
    attempts: list[tuple[str | None, Callable[[], object]]] = [
        (None, lambda: cls(**{key: bad})),
        (name, lambda: load_settings(cls, section, environ={name: as_text(bad)})),
        (str(path), lambda: load_settings(cls, section, path, {})),
    ]
    for source, attempt in attempts:
        with pytest.raises(InvalidInputError) as exc:
            attempt()
        assert_one_shape(exc, section, key, source)


def test_the_two_sources_read_the_same_message(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as exc:
        load_settings(ServeSettings, "serve", environ={"MLEDITOR_SERVE_PORT": "eighty"})
    assert str(exc.value) == "serve port='eighty' is not valid; expected an integer (from MLEDITOR_SERVE_PORT)"
    path = write(tmp_path, "[serve]\nport = 70000\n")
    with pytest.raises(InvalidInputError) as exc:
        load_settings(ServeSettings, "serve", path, {})
    assert str(exc.value) == f"serve port=70000 is not valid; expected a TCP port 0-65535 (from {path})"


def test_a_bad_value_in_the_file_is_refused_even_when_a_variable_overrides_it(tmp_path: Path) -> None:
    path = write(tmp_path, "[serve]\nworkers = 0\n")
    with pytest.raises(InvalidInputError, match=r"serve workers=0 .*from .*settings.toml"):
        load_settings(ServeSettings, "serve", path, {"MLEDITOR_SERVE_WORKERS": "2"})


def test_text_from_variables_becomes_the_field_type() -> None:
    env = {"MLEDITOR_SERVE_ANONYMOUS_ENABLED": "off", "MLEDITOR_SERVE_ANONYMOUS_SCOPES": " v1 , v3,",
           "MLEDITOR_SERVE_MAX_WAIT_MS": "2", "MLEDITOR_SERVE_MODEL": "", "MLEDITOR_SERVE_LOG_LEVEL": "DEBUG"}
    s = load_settings(ServeSettings, "serve", environ=env)
    assert (s.anonymous_enabled, s.anonymous_scopes, s.max_wait_ms, s.model, s.log_level) == (
        False, ("v1", "v3"), 2.0, None, "debug")


VALID_OTHER: dict[tuple[type[Any], str], object] = {(ServeSettings, "log_level"): "debug",
                                                    (ServeSettings, "rate_limit_backend"): "process",
                                                    (ServeSettings, "operator_access"): "key"}


def changed(cls: type[Any]) -> Any:
    """An instance with every field away from its default (and still valid)."""
    other: dict[object, Callable[[Any], object]] = {
        bool: lambda v: not v, int: lambda v: v + 1, float: lambda v: v * 2 + 0.25,
        str: lambda v: v + "-x", str | None: lambda v: "sqlite:///p.db" if v is None else None,
        tuple[str, ...]: lambda v: v[:1],
    }
    values = {f.name: other[hint(cls, f.name)](getattr(cls(), f.name)) for f in dataclasses.fields(cls)}
    return cls(**values | {key: value for (owner, key), value in VALID_OTHER.items() if owner is cls})


@pytest.mark.parametrize("cls, section", DOORS)
def test_settings_to_env_round_trips_through_the_loader(cls: type[Any], section: str) -> None:
    for settings in (cls(), changed(cls)):
        env = settings_to_env(settings, section)
        assert set(env) == {f"MLEDITOR_{section.upper()}_{f.name.upper()}" for f in dataclasses.fields(cls)}
        assert load_settings(cls, section, environ=env) == settings
    assert all(getattr(changed(cls), f.name) != getattr(cls(), f.name) for f in dataclasses.fields(cls))


@dataclass(frozen=True)
class _Unsupported:
    sizes: list[int] = dataclasses.field(default_factory=list)


@dataclass(frozen=True)
class _MisChecked:
    size: int = 1

    def __post_init__(self) -> None:
        check_settings(self, "batch", {"sise": config.at_least(1)})


def test_a_field_type_or_check_the_loader_does_not_know_is_a_programming_error() -> None:
    with pytest.raises(TypeError, match=r"list\[int\] is not supported"):
        load_settings(_Unsupported, "batch", environ={"MLEDITOR_BATCH_SIZES": "1"})
    with pytest.raises(TypeError, match="checks name fields that _MisChecked lacks: sise"):
        _MisChecked()


@pytest.mark.parametrize("module", [mleditor.serve.settings, mleditor.hybrid.settings])
def test_the_docstring_examples_run(module: ModuleType) -> None:
    assert doctest.testmod(module).failed == 0


def test_importing_the_settings_reads_no_environment() -> None:
    code = "import mleditor.serve.settings, mleditor.hybrid.settings"
    env = {"MLEDITOR_SERVE_PORT": "not a port", "MLEDITOR_CONFIG": "/nonexistent.toml"}
    assert subprocess.run([sys.executable, "-c", code], env=env, check=False).returncode == 0
