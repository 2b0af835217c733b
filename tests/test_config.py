"""Config schema, validation, serialisation and the CLI's config-error path (no engine needed)."""
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from kmc import config as C
from kmc.schema import KEYS, SCHEMA_VERSION, SECTIONS

REPO = Path(__file__).resolve().parents[1]


def kmc_cli(*args, cwd=None):
    """Run ``python -m kmc ARGS`` in a subprocess; returns CompletedProcess."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "kmc", *map(str, args)], cwd=cwd or REPO,
                          env=env, capture_output=True, text=True, timeout=120)


def write(tmp_path, text, name="cfg.toml"):
    p = tmp_path / name
    p.write_text(text)
    return p


def assert_one_line_error(proc, prefix, got=None):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(prefix), lines[0]
    if got is not None:
        assert f"(got {got})" in lines[0], lines[0]
    return lines[0]


# --- schema and serialisation ------------------------------------------------------------------

def test_every_key_documented():
    for k in KEYS:
        assert k.unit is not None and (k.unit != "" or k.kind == "float"), k.path
        assert k.source.strip(), k.path
        assert k.doc.strip(), k.path
        assert k.path.count(".") == 1, k.path
        assert k.kind in ("float", "int", "bool", "str"), k.path


def test_defaults_validate_and_round_trip():
    cfg = C.defaults()
    assert cfg["schema_version"] == SCHEMA_VERSION
    assert list(cfg) == ["schema_version", *SECTIONS]
    materials = C.load_materials("li_lpsc")
    for k in KEYS:
        sec, name = k.path.split(".")
        if k.path == "cell.materials":
            assert C.get(cfg, k.path) == "li_lpsc"      # 'auto' resolves for Li
        elif name in materials.get(sec, {}):
            assert C.get(cfg, k.path) == materials[sec][name], k.path
        else:
            assert C.get(cfg, k.path) == k.default, k.path
    text = C.resolved_toml(cfg)
    assert text.splitlines()[0] == f"schema_version = {SCHEMA_VERSION}"
    assert C.validate(tomllib.loads(text)) == cfg
    assert C.resolved_toml(C.validate(tomllib.loads(text))) == text


def test_hash_stable_and_sensitive():
    a, b = C.defaults(), C.defaults()
    assert C.config_hash(a) == C.config_hash(b)
    assert len(C.config_hash(a)) == 64
    C.set_key(b, "protocol.cycles", 4)
    assert C.config_hash(a) != C.config_hash(b)


def test_round_trip_awkward_values():
    raw = {"schema_version": 1, "run": {"name": 'quote " back\\ tab\t é', "seed": 2**63 - 1},
           "diffusion": {"self_diffusivity_cm2_s": 1.2345678901234567e-10},
           "cell": {"temperature_K": 300}}
    cfg = C.validate(raw)
    assert isinstance(cfg["cell"]["temperature_K"], float)
    assert C.validate(tomllib.loads(C.resolved_toml(cfg))) == cfg


def test_load_config_and_overrides(tmp_path):
    p = write(tmp_path, "schema_version = 1\n[protocol]\ncycles = 5\n")
    cfg = C.load_config(p, ["protocol.current_density_mA_cm2=1", "run.name=hello",
                            "lattice.dimension=2", "lattice.size_y_um=0.05"])
    assert cfg["protocol"]["cycles"] == 5
    assert cfg["protocol"]["current_density_mA_cm2"] == 1.0
    assert cfg["run"]["name"] == "hello"
    assert cfg["lattice"]["dimension"] == 2  # 2D: size_y not cross-checked


# --- validation errors -------------------------------------------------------------------------

@pytest.mark.parametrize("raw, key, got", [
    ({}, "schema_version", "nothing"),
    ({"schema_version": 2}, "schema_version", "2"),
    ({"schema_version": "1"}, "schema_version", "'1'"),
    ({"schema_version": 1, "protocol": {"cycles": 2.0}}, "protocol.cycles", "2.0"),
    ({"schema_version": 1, "protocol": {"cycles": True}}, "protocol.cycles", "true"),
    ({"schema_version": 1, "cell": {"temperature_K": True}}, "cell.temperature_K", "true"),
    ({"schema_version": 1, "cell": {"temperature_K": "300"}}, "cell.temperature_K", "'300'"),
    ({"schema_version": 1, "cell": {"metal": "K"}}, "cell.metal", "'K'"),
    ({"schema_version": 1, "cell": 3}, "cell", "3"),
    ({"schema_version": 1, "cell": {"colour": "red"}}, "cell.colour", "'red'"),
    ({"schema_version": 1, "extra": {}}, "extra", "a table"),
    ({"schema_version": 1, "lattice": {"size_x_um": 0.3}}, "lattice.size_x_um", "0.3"),
    ({"schema_version": 1, "lattice": {"size_y_um": 0.3}}, "lattice.size_y_um", "0.3"),
    ({"schema_version": 1, "lattice": {"dimension": 4}}, "lattice.dimension", "4"),
])
def test_validate_rejects(raw, key, got):
    with pytest.raises(C.ConfigError) as ei:
        C.validate(raw)
    assert ei.value.key == key
    assert str(ei.value).startswith(f"config error: {key}: ")
    assert str(ei.value).endswith(f"(got {got})")


def test_range_message():
    with pytest.raises(C.ConfigError) as ei:
        C.validate({"schema_version": 1, "protocol": {"current_density_mA_cm2": 0}})
    assert str(ei.value) == ("config error: protocol.current_density_mA_cm2: "
                             "must be in (0, 100] (got 0)")


def test_first_error_in_schema_order():
    raw = {"schema_version": 1, "zzz": 1, "protocol": {"cycles": -1},
           "run": {"seed": -1}}
    with pytest.raises(C.ConfigError) as ei:
        C.validate(raw)
    assert ei.value.key == "run.seed"


# --- CLI ---------------------------------------------------------------------------------------

def test_cli_validate_ok(tmp_path):
    p = write(tmp_path, "schema_version = 1\n")
    proc = kmc_cli("validate", p)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"ok: {p} (hash {C.config_hash(C.defaults())[:12]})"


def test_cli_negative_current_density(tmp_path):
    p = write(tmp_path, "schema_version = 1\n[protocol]\ncurrent_density_mA_cm2 = -0.25\n")
    assert_one_line_error(kmc_cli("validate", p),
                          "config error: protocol.current_density_mA_cm2:", "-0.25")


def test_cli_unknown_key(tmp_path):
    p = write(tmp_path, "schema_version = 1\n[protocol]\ncurrent_density = 1.0\n")
    line = assert_one_line_error(kmc_cli("validate", p), "config error: protocol.current_density:")
    assert "unknown key" in line


def test_cli_wrong_type(tmp_path):
    p = write(tmp_path, 'schema_version = 1\n[protocol]\ncycles = "three"\n')
    assert_one_line_error(kmc_cli("validate", p), "config error: protocol.cycles:", "'three'")


@pytest.mark.parametrize("head", ["", "schema_version = 7\n"])
def test_cli_schema_version(tmp_path, head):
    p = write(tmp_path, head + "[run]\nseed = 3\n")
    assert_one_line_error(kmc_cli("validate", p), "config error: schema_version:")


def test_cli_set_override(tmp_path):
    p = write(tmp_path, "schema_version = 1\n")
    ok = kmc_cli("validate", p, "--set", "protocol.cycles=7", "--set", "cell.metal=Na")
    assert ok.returncode == 0, ok.stderr
    cfg = C.load_config(p, ["protocol.cycles=7", "cell.metal=Na"])
    assert ok.stdout.strip().endswith(f"(hash {C.config_hash(cfg)[:12]})")
    assert C.config_hash(cfg) != C.config_hash(C.defaults())
    assert_one_line_error(kmc_cli("validate", p, "--set", "protocol.cycles=0"),
                          "config error: protocol.cycles:", "0")
    assert_one_line_error(kmc_cli("validate", p, "--set", "protocol.nope=1"),
                          "config error: protocol.nope: unknown key")
    assert_one_line_error(kmc_cli("validate", p, "--set", "protocol.cycles"),
                          "config error: --set:")


def test_cli_toml_syntax_error(tmp_path):
    p = write(tmp_path, "schema_version = 1\n[protocol\ncycles = 3\n")
    assert_one_line_error(kmc_cli("validate", p), f"config error: {p}: invalid TOML")


def test_cli_missing_file(tmp_path):
    assert_one_line_error(kmc_cli("validate", tmp_path / "nope.toml"),
                          f"config error: {tmp_path / 'nope.toml'}: file not found")


def test_cli_run_bad_config_writes_nothing(tmp_path):
    p = write(tmp_path, "schema_version = 1\n[protocol]\ncurrent_density_mA_cm2 = -0.25\n")
    out = tmp_path / "out"
    assert_one_line_error(kmc_cli("run", p, "-o", out, "--seed", "3"),
                          "config error: protocol.current_density_mA_cm2:", "-0.25")
    assert not out.exists()
    assert_one_line_error(kmc_cli("run", p, "-o", out, "--seed", "-5"),
                          "config error: run.seed:", "-5")
    assert not out.exists()


def test_docs_config_md_up_to_date():
    doc = REPO / "docs" / "config.md"
    assert doc.read_text() == C.markdown_table(), "run `make docs` to regenerate docs/config.md"
