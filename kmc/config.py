"""Load, validate and serialise run configurations (TOML) against ``kmc.schema``.

A resolved configuration is a nested dict ``{"schema_version": 1, section: {key: value}}``
with every schema key present (defaults filled in), float keys as ``float`` and units as
named in the key (``_um``, ``_mA_cm2``, ...). ``python -m kmc.config --markdown`` prints
the key reference that lives in ``docs/config.md``.
"""
import copy
import hashlib
import json
import math
import re
import sys
import tomllib
from pathlib import Path

from kmc.schema import KEY_BY_PATH, KEYS, METALS, SCHEMA_VERSION, SECTIONS, Key

__all__ = ["ConfigError", "load_config", "validate", "resolved_toml", "config_hash",
           "get", "set_key", "defaults", "markdown_table", "MIN_VOXELS_ACROSS"]

MIN_VOXELS_ACROSS = 4  # smallest lateral box size, in voxels
_MISSING = object()


def _show(value) -> str:
    """Format an offending value for an error message (strings quoted, TOML-style bools)."""
    if value is _MISSING:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "a table"
    return repr(value)


class ConfigError(Exception):
    """A configuration problem: ``key`` (dotted path or file), ``problem`` and ``got``.

    ``str(err)`` is the one-line message ``config error: <key>: <problem> (got <value>)``.
    """

    def __init__(self, key: str, problem: str, got=_MISSING):
        self.key = key
        self.problem = " ".join(str(problem).split("\n"))
        self.got = got
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"config error: {self.key}: {self.problem} (got {_show(self.got)})"


# --- validation ------------------------------------------------------------------------------

def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_key(key: Key, value):
    """Return the validated (normalised) value of one key or raise ConfigError."""
    p, given = key.path, value
    if key.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(p, "must be true or false", value)
    elif key.kind == "str":
        if not isinstance(value, str):
            raise ConfigError(p, "must be a string", value)
    elif key.kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(p, "must be an integer", value)
    elif key.kind == "float":
        if not _is_number(value):
            raise ConfigError(p, "must be a number", value)
        if not math.isfinite(value):
            raise ConfigError(p, "must be a finite number", value)
        value = float(value)
    else:  # pragma: no cover - schema error
        raise ValueError(f"schema: unknown kind {key.kind!r} for {p}")
    if key.choices is not None:
        if value not in key.choices:
            raise ConfigError(p, "must be " + key.range_text(), given)
    elif key.kind in ("int", "float"):
        ok = True
        if key.lo is not None:
            ok = value > key.lo if key.lo_open else value >= key.lo
        if ok and key.hi is not None:
            ok = value < key.hi if key.hi_open else value <= key.hi
        if not ok:
            raise ConfigError(p, "must be in " + key.range_text(), given)
    return value


def _cross_checks(cfg: dict) -> None:
    """Checks that involve more than one key (run after all keys are valid)."""
    lat = cfg["lattice"]
    axes = ["x"] if lat["dimension"] == 2 else ["x", "y"]
    for ax in axes:
        size = lat[f"size_{ax}_um"]
        if size / lat["voxel_um"] < MIN_VOXELS_ACROSS - 1e-9:
            raise ConfigError(
                f"lattice.size_{ax}_um",
                f"must be at least {MIN_VOXELS_ACROSS} voxels "
                f"(>= {MIN_VOXELS_ACROSS * lat['voxel_um']:g} um with "
                f"lattice.voxel_um = {lat['voxel_um']:g})", size)
    el = cfg["electrode"]
    if el["soft_domain_min_um"] > el["soft_domain_max_um"]:
        raise ConfigError("electrode.soft_domain_min_um",
                          f"must not exceed electrode.soft_domain_max_um "
                          f"({el['soft_domain_max_um']:g})", el["soft_domain_min_um"])
    if (el["soft_mol_percent"] > 0 or el["microstructure_file"]) and el["initial_metal_um"] <= 0:
        key = "soft_mol_percent" if el["soft_mol_percent"] > 0 else "microstructure_file"
        raise ConfigError(f"electrode.{key}", "needs a starting electrode "
                          "(electrode.initial_metal_um > 0)", el[key])
    if el["microstructure_file"] and not Path(el["microstructure_file"]).is_file():
        raise ConfigError("electrode.microstructure_file", "no such file",
                          el["microstructure_file"])


MATERIALS_DIR = Path(__file__).parent / "materials"


def materials_file(name: str) -> Path:
    """Path of a materials parameter file (kmc/materials/NAME.toml)."""
    return MATERIALS_DIR / f"{name}.toml"


def load_materials(name: str) -> dict:
    """The parameter tables of a materials file, without its [sources] table; a file with
    `base = "OTHER"` takes OTHER's tables and overrides them key by key."""
    with open(materials_file(name), "rb") as f:
        data = tomllib.load(f)
    data.pop("sources", None)
    base = data.pop("base", None)
    if base is None:
        return data
    merged = load_materials(base)
    for sec, table in data.items():
        merged[sec] = {**merged.get(sec, {}), **table}
    return merged


def _with_materials(raw: dict) -> dict:
    """raw with cell.materials resolved ('auto' -> li_lpsc for Li, na_nbh for Na) and the
    materials file's values filled in under every key raw does not set."""
    cell = raw.get("cell", {})
    if not isinstance(cell, dict):
        return raw
    name = _check_key(KEY_BY_PATH["cell.materials"], cell.get("materials", "auto"))
    if name == "auto":
        name = "li_lpsc" if cell.get("metal", "Li") == "Li" else "na_nbh"
    merged = copy.deepcopy(raw)
    merged.setdefault("cell", {})["materials"] = name
    if name == "none":
        return merged
    for sec, table in load_materials(name).items():
        given = merged.get(sec, {})
        if isinstance(given, dict):
            merged[sec] = {**table, **given}
    return merged


def validate(raw: dict) -> dict:
    """Validate a raw (parsed TOML) config and return the resolved config.

    Order of checks: ``schema_version``; every schema key in schema order (a section that is
    not a table is reported at its first key); unknown keys; cross-key checks. The first
    problem found is raised as ConfigError. ``raw`` is not modified.
    """
    if not isinstance(raw, dict):
        raise ConfigError("<config>", "must be a table", raw)
    sv = raw.get("schema_version", _MISSING)
    if sv is _MISSING:
        raise ConfigError("schema_version",
                          f"required at the top of the file (schema_version = {SCHEMA_VERSION})")
    if not isinstance(sv, int) or isinstance(sv, bool) or sv != SCHEMA_VERSION:
        raise ConfigError("schema_version", f"must be {SCHEMA_VERSION}", sv)

    raw = _with_materials(raw)
    out = {"schema_version": SCHEMA_VERSION}
    for key in KEYS:
        sec, name = key.path.split(".", 1)
        given = raw.get(sec, {})
        if not isinstance(given, dict):
            raise ConfigError(sec, "must be a table ([" + sec + "])", given)
        value = given.get(name, _MISSING)
        out.setdefault(sec, {})[name] = (copy.deepcopy(key.default) if value is _MISSING
                                         else _check_key(key, value))

    for top in sorted(raw):
        if top != "schema_version" and top not in SECTIONS:
            raise ConfigError(top, "unknown key", raw[top])
    for sec in SECTIONS:
        for name in sorted(raw.get(sec, {})):
            if f"{sec}.{name}" not in KEY_BY_PATH:
                raise ConfigError(f"{sec}.{name}", "unknown key", raw[sec][name])

    _cross_checks(out)
    return out


def defaults() -> dict:
    """The resolved default configuration."""
    return validate({"schema_version": SCHEMA_VERSION})


# --- loading and overrides ---------------------------------------------------------------------

def _parse_value(text: str):
    """Parse an override value as a TOML value, falling back to the plain string."""
    try:
        return tomllib.loads("v = " + text)["v"]
    except (tomllib.TOMLDecodeError, KeyError):
        return text


def apply_overrides(raw: dict, overrides=()) -> dict:
    """Apply ``"dotted.key=VALUE"`` strings to a raw config (copy returned)."""
    raw = copy.deepcopy(raw)
    for item in overrides:
        if "=" not in item:
            raise ConfigError("--set", "expected KEY=VALUE", item)
        dotted, text = item.split("=", 1)
        dotted = dotted.strip()
        if dotted != "schema_version" and dotted not in KEY_BY_PATH:
            raise ConfigError(dotted or "--set", "unknown key", item)
        value = _parse_value(text.strip())
        if dotted == "schema_version":
            raw["schema_version"] = value
            continue
        sec, name = dotted.split(".", 1)
        section = raw.setdefault(sec, {})
        if not isinstance(section, dict):
            raise ConfigError(sec, "must be a table ([" + sec + "])", section)
        section[name] = value
    return raw


def _syntax_error(path: str, text: str, err: Exception) -> ConfigError:
    msg = str(err)
    m = re.search(r"line (\d+)", msg)
    lines = text.splitlines()
    if m and 1 <= int(m.group(1)) <= len(lines):
        return ConfigError(path, f"invalid TOML: {msg}", lines[int(m.group(1)) - 1].strip())
    return ConfigError(path, f"invalid TOML: {msg}", Path(path).name)


def load_config(path, overrides=()) -> dict:
    """Read a TOML config file, apply ``--set`` overrides and return the resolved config."""
    path = str(path)
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError(path, "file not found", path) from None
    except OSError as e:
        raise ConfigError(path, f"cannot read file: {e.strerror}", path) from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(path, f"not UTF-8 text: {e.reason} at byte {e.start}",
                          path) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _syntax_error(path, text, e) from None
    return validate(apply_overrides(raw, overrides))


# --- serialisation -----------------------------------------------------------------------------

def _toml_value(v) -> str:
    """One value as TOML text (floats via repr so they round-trip exactly)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False).replace("\x7f", "\\u007f")
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def resolved_toml(cfg: dict) -> str:
    """Deterministic TOML text of a resolved config (schema_version, then schema order)."""
    lines = [f"schema_version = {_toml_value(cfg['schema_version'])}"]
    for sec in SECTIONS:
        lines += ["", f"[{sec}]"]
        for key in KEYS:
            s, name = key.path.split(".", 1)
            if s == sec:
                lines.append(f"{name} = {_toml_value(cfg[sec][name])}")
    return "\n".join(lines) + "\n"


def config_hash(cfg: dict) -> str:
    """sha256 hex digest of ``resolved_toml(cfg)``."""
    return hashlib.sha256(resolved_toml(cfg).encode("utf-8")).hexdigest()


def get(cfg: dict, dotted: str):
    """Value at a dotted path, e.g. ``get(cfg, "lattice.voxel_um")``."""
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def set_key(cfg: dict, dotted: str, value) -> dict:
    """Set the value at a dotted path in place (creating tables); returns ``cfg``."""
    *parents, last = dotted.split(".")
    node = cfg
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return cfg


def with_overrides(overrides: dict) -> dict:
    """The defaults with {key: value} overrides, validated. Keys are dotted paths
    ("cell.stack_pressure_MPa") or the keyword form "cell__stack_pressure_MPa"."""
    raw = {"schema_version": SCHEMA_VERSION}
    for key, value in overrides.items():
        set_key(raw, key.replace("__", "."), value)
    return validate(raw)


# --- documentation -----------------------------------------------------------------------------

def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table() -> str:
    """The configuration reference (content of ``docs/config.md``)."""
    out = [
        "# Run configuration",
        "",
        "<!-- Generated by `python -m kmc.config --markdown` (make docs); do not edit. -->",
        "",
        "Runs are configured by a TOML file. It must start with "
        f"`schema_version = {SCHEMA_VERSION}`; every other key is optional and takes the "
        "default below. Unknown keys, wrong types and out-of-range values are rejected with "
        "a one-line `config error: <key>: <problem> (got <value>)` message. Any key can be "
        "overridden on the command line with `--set section.key=value` (the value is parsed "
        "as TOML, e.g. `--set protocol.cycles=10 --set cell.metal=Na`). Units are in the key "
        "names and in the unit column; ranges use `[` `]` for inclusive and `(` `)` for "
        "exclusive ends.",
    ]
    for sec in SECTIONS:
        out += ["", f"## `[{sec}]`", "",
                "| key | type | unit | default | allowed range | source | meaning |",
                "|---|---|---|---|---|---|---|"]
        for key in KEYS:
            if key.path.split(".", 1)[0] != sec:
                continue
            unit = key.unit if key.unit else "dimensionless"
            out.append(" | ".join([
                f"| `{key.path}`", key.kind, _cell(unit), f"`{_cell(_toml_value(key.default))}`",
                _cell(key.range_text()), _cell(key.source), _cell(key.doc) + " |"]))
    out += ["", "## Metal constants (selected by `cell.metal`)", "",
            "| metal | molar volume (cm3/mol) | source |", "|---|---|---|"]
    for metal, c in METALS.items():
        out.append(f"| {metal} | {c['molar_volume_cm3_mol']:g} | {_cell(c['source'])} |")
    return "\n".join(out) + "\n"


def _main(argv=None) -> int:
    import argparse
    ap = argparse.ArgumentParser(prog="python -m kmc.config",
                                 description="Configuration schema tools.")
    ap.add_argument("--markdown", action="store_true",
                    help="print the key reference (docs/config.md) as Markdown")
    ap.add_argument("--defaults", action="store_true",
                    help="print the resolved default configuration as TOML")
    args = ap.parse_args(argv)
    if args.markdown:
        sys.stdout.write(markdown_table())
    elif args.defaults:
        sys.stdout.write(resolved_toml(defaults()))
    else:
        ap.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(_main())
