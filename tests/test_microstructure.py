"""Soft-domain microstructures (kmc/microstructure.py) and 004's simulated stripping
(analysis/simulated_stripping.py). Numpy only: no engine build needed."""
import subprocess
import sys
from collections import deque
from pathlib import Path

import numpy as np
import pytest

from analysis.load import PHASES
from analysis.simulated_stripping import coverage_vs_depth, mask_from_snapshot
from kmc.microstructure import describe, load_voxel_image, soft_domains, soft_volume_fraction

SCRIPT = Path(__file__).resolve().parent.parent / "analysis" / "simulated_stripping.py"
LI_LAYER_1UM = 1e-4 / 12.97 * 96485.33 / 3.6       # mAh/cm2 of a 1 um Li layer (~0.2066)


class FixedRng:
    """Stands in for a numpy Generator: every domain has diameter d_um and its centre at
    (z, y, x) = centre (fractions of the box)."""

    def __init__(self, d_um, centre):
        self.d_um, self.centre = d_um, np.array(centre, dtype=float)

    def uniform(self, lo, hi):
        return np.log(self.d_um)

    def random(self, n):
        assert n == 3
        return self.centre.copy()


def n_domains_bfs(mask):
    """Reference count of 6-connected domains by breadth-first search."""
    seen = np.zeros_like(mask)
    count = 0
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        count += 1
        seen[start] = True
        queue = deque([start])
        while queue:
            p = queue.popleft()
            for axis in range(3):
                for step in (-1, 1):
                    q = list(p)
                    q[axis] += step
                    q = tuple(q)
                    if 0 <= q[axis] < mask.shape[axis] and mask[q] and not seen[q]:
                        seen[q] = True
                        queue.append(q)
    return count


def test_volume_fraction_formula():
    assert soft_volume_fraction(5) == pytest.approx(0.0880, abs=1e-4)
    assert soft_volume_fraction(20) == pytest.approx(0.3143, abs=1e-4)
    assert soft_volume_fraction(0) == 0.0
    assert soft_volume_fraction(50, v_soft=1.0, v_matrix=3.0) == pytest.approx(0.25)


@pytest.mark.parametrize("shape, voxel_um, mol", [((150, 64, 64), 1.0, 20), ((150, 64, 64), 1.0, 5),
                                                   ((200, 1, 400), 0.5, 2.5),
                                                   ((200, 1, 400), 0.5, 10),
                                                   ((200, 1, 400), 0.5, 20)])
def test_generated_fraction_near_target(shape, voxel_um, mol):
    mask = soft_domains(shape, voxel_um, mol, 2.0, 10.0, np.random.default_rng(7))
    assert mask.shape == shape and mask.dtype == bool
    assert abs(mask.mean() - soft_volume_fraction(mol)) < 0.01


def test_deterministic_for_a_seed():
    args = ((40, 16, 16), 0.5, 10, 1.0, 4.0)
    a = soft_domains(*args, np.random.default_rng(3))
    b = soft_domains(*args, np.random.default_rng(3))
    c = soft_domains(*args, np.random.default_rng(4))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("shape", [(80, 64, 64), (80, 1, 800)])
def test_domain_sizes(shape):
    d_min, d_max = 4.0, 8.0
    for seed in (0, 1, 2):
        mask = soft_domains(shape, 0.5, 1.0, d_min, d_max, np.random.default_rng(seed))
        stats = describe(mask, 0.5)
        assert stats["n_domains"] >= 3
        assert d_min <= stats["mean_equivalent_diameter_um"] <= d_max


def test_sub_voxel_domains_paint_their_centre_voxel():
    one = soft_domains((20, 8, 8), 1.0, 0.01, 0.01, 0.01, FixedRng(0.01, [0.125, 0.9875, 0.4]))
    assert one.sum() == 1 and one[2, 7, 3]
    mask = soft_domains((20, 8, 8), 1.0, 5, 0.01, 0.02, np.random.default_rng(0))
    assert abs(mask.mean() - soft_volume_fraction(5)) < 0.01


def test_periodic_wrap_in_x_and_y_clipped_in_z():
    # one 6 um domain centred at x = y = 0 on the bottom face (z = 0)
    mask = soft_domains((20, 20, 20), 1.0, 0.1, 6.0, 6.0, FixedRng(6.0, [0.0, 0.0, 0.0]))
    assert mask[0, 0, 0] and mask[0, 0, 19] and mask[0, 19, 0] and mask[0, 19, 19]
    assert mask[0, 0, 2] and mask[0, 0, 17] and not mask[0, 0, 3] and not mask[0, 0, 16]
    assert not mask[19].any() and not mask[:, :, 5:15].any()
    flat = soft_domains((20, 1, 20), 1.0, 1, 6.0, 6.0, FixedRng(6.0, [0.5, 0.0, 0.0]))
    assert flat[10, 0, 0] and flat[10, 0, 19] and not flat[10, 0, 10]


def test_zero_and_bad_arguments():
    assert not soft_domains((10, 4, 4), 1.0, 0, 1.0, 2.0, np.random.default_rng(0)).any()
    assert not soft_domains((10, 1, 4), 1.0, 0, 0.0, 0.0, np.random.default_rng(0)).any()
    with pytest.raises(ValueError, match="must be > 0"):
        soft_domains((10, 4, 4), 1.0, 5, 0.0, 2.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="d_min_um"):
        soft_domains((10, 4, 4), 1.0, 5, 3.0, 2.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="cannot be reached"):
        soft_domains((10, 4, 4), 1.0, 100, 1.0, 2.0, np.random.default_rng(0))


def test_describe_counts_6_connected_domains():
    mask = np.zeros((6, 6, 6), dtype=bool)
    mask[0, 0, 0] = mask[1, 1, 1] = True                   # touch only diagonally: two domains
    mask[3:5, 3, 2:6] = True
    mask[4, 0:4, 5] = True                                 # L-shape: one domain
    stats = describe(mask, 2.0)
    assert stats["n_domains"] == 3
    assert stats["volume_fraction"] == pytest.approx(mask.sum() / mask.size)
    sizes = np.array([1, 1, 11])
    assert stats["mean_equivalent_diameter_um"] == pytest.approx(
        np.mean(np.cbrt(6 * sizes * 8.0 / np.pi)))
    rng = np.random.default_rng(5)
    for p in (0.2, 0.3, 0.5):
        mask = rng.random((12, 10, 11)) < p
        assert describe(mask, 1.0)["n_domains"] == n_domains_bfs(mask)
    empty = describe(np.zeros((3, 1, 3), dtype=bool), 1.0)
    assert empty["n_domains"] == 0 and np.isnan(empty["mean_equivalent_diameter_um"])


def test_load_voxel_image(tmp_path):
    img = np.random.default_rng(1).integers(0, 3, size=(5, 4, 6)).astype(np.uint8)
    np.save(tmp_path / "vol.npy", img)
    assert np.array_equal(load_voxel_image(tmp_path / "vol.npy", (5, 4, 6)), img != 0)
    np.save(tmp_path / "slice.npy", img[:, 0, :].astype(bool))
    assert np.array_equal(load_voxel_image(tmp_path / "slice.npy", (5, 1, 6)), img[:, :1] != 0)
    with pytest.raises(ValueError, match=r"vol\.npy.*\(5, 4, 6\).*\(5, 6, 4\)"):
        load_voxel_image(tmp_path / "vol.npy", (5, 6, 4))


def test_coverage_one_na_voxel_at_known_depth():
    mask = np.zeros((10, 2, 3), dtype=bool)
    mask[6, 1, 2] = True                                    # 3 layers below the top (z = 9)
    res = coverage_vs_depth(mask, 1.0)
    assert np.allclose(res["depth_um"], np.arange(10))
    assert np.allclose(res["na_coverage"], [0, 0, 0] + [1 / 6] * 7)
    assert np.allclose(res["li_coverage"], 1 - res["na_coverage"])
    li_removed = np.array([0, 6, 12, 18, 23, 29, 35, 41, 47, 53])   # the Na voxel is no Li
    assert np.allclose(res["stripped_mAh_cm2"], li_removed / 6 * LI_LAYER_1UM)
    # the same voxel half a voxel finer: depth and charge scale with voxel_um
    fine = coverage_vs_depth(mask, 0.5)
    assert np.allclose(fine["depth_um"], 0.5 * np.arange(10))
    assert np.allclose(fine["stripped_mAh_cm2"], res["stripped_mAh_cm2"] / 2)


def test_one_full_li_layer_of_1_um():
    res = coverage_vs_depth(np.zeros((3, 2, 2), dtype=bool), 1.0)
    assert res["stripped_mAh_cm2"][1] == pytest.approx(0.2066, abs=1e-3)   # 4.84 um/(mAh/cm2)
    assert np.allclose(np.diff(res["stripped_mAh_cm2"]), res["stripped_mAh_cm2"][1])


def test_coverage_follows_the_top_of_each_column():
    mask = np.zeros((8, 1, 2), dtype=bool)
    mask[3, 0, 0] = mask[7, 0, 1] = True                   # depth 1 and depth 0
    res = coverage_vs_depth(mask, 1.0, top=np.array([[5, 8]]))
    assert np.allclose(res["na_coverage"], [0.5, 1, 1, 1, 1, 1, 1, 1])
    # Li voxels per stripped layer; column 0 is stripped out after 5 steps
    assert np.allclose(np.diff(res["stripped_mAh_cm2"]) / LI_LAYER_1UM * 2,
                       [1, 1, 2, 2, 2, 1, 1])
    with pytest.raises(ValueError, match="top"):
        coverage_vs_depth(mask, 1.0, top=np.array([[9, 8]]))


def test_coverage_monotone_on_random_microstructure():
    mask = soft_domains((60, 24, 24), 0.5, 10, 1.0, 5.0, np.random.default_rng(11))
    res = coverage_vs_depth(mask, 0.5)
    assert np.all(np.diff(res["na_coverage"]) >= 0)
    assert np.all(np.diff(res["stripped_mAh_cm2"]) > 0)
    assert res["na_coverage"][0] == pytest.approx(mask[-1].mean())
    assert res["na_coverage"][-1] == pytest.approx(mask.any(axis=0).mean())
    assert res["na_coverage"][-1] > res["na_coverage"][0] + 0.3


def test_mask_from_snapshot():
    state = np.full((9, 2, 3), PHASES["METAL"], dtype=np.uint8)
    state[:2] = PHASES["COLLECTOR"]
    state[5:] = PHASES["ELECTROLYTE"]
    state[4, 1, 1] = PHASES["SOFT"]
    h = np.full((2, 3), 5)
    soft, top = mask_from_snapshot({"state": state, "h": h, "collector_layers": 2})
    assert soft.shape == (7, 2, 3) and soft.sum() == 1 and soft[2, 1, 1]
    assert np.array_equal(top, np.full((2, 3), 3))
    assert np.allclose(coverage_vs_depth(soft, 1.0, top)["na_coverage"], [1 / 6] * 3)


def run_cli(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, timeout=60)


def test_cli_on_voxel_image_and_snapshot(tmp_path):
    img = soft_domains((20, 1, 40), 1.0, 10, 1.0, 4.0, np.random.default_rng(2))
    np.save(tmp_path / "slice.npy", img[:, 0, :].astype(np.uint8))
    out = run_cli(tmp_path / "slice.npy", "--voxel-um", 1.0)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].split() == ["depth_um", "stripped_mAh_cm2", "na_coverage"]
    assert len(lines) == 1 + 20
    assert lines[2].split()[0] == "1.000" and len(lines[2].split()[1].split(".")[1]) == 4
    out = run_cli(tmp_path / "slice.npy", "--voxel-um", 1.0, "--every", 5, "--max-depth-um", 12)
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 1 + 3   # 0, 5, 10 um
    state = np.where(img, PHASES["SOFT"], PHASES["METAL"]).astype(np.uint8)
    np.savez(tmp_path / "snap.npz", state=state, h=np.full((1, 40), 20), voxel_um=1.0,
             collector_layers=0, t_s=0.0, cycle=0, half="plate")
    out = run_cli(tmp_path / "snap.npz")
    assert out.returncode == 0, out.stderr
    assert out.stdout == run_cli(tmp_path / "slice.npy", "--voxel-um", 1.0).stdout


@pytest.mark.parametrize("args", [["missing.npy", "--voxel-um", 1.0], ["slice.npy"],
                                  ["bad.npy", "--voxel-um", 1.0]])
def test_cli_bad_input(tmp_path, args):
    np.save(tmp_path / "slice.npy", np.zeros((4, 5), dtype=np.uint8))
    np.save(tmp_path / "bad.npy", np.zeros(4, dtype=np.uint8))
    out = run_cli(tmp_path / args[0], *args[1:])
    assert out.returncode == 2
    assert (out.stderr + out.stdout).startswith("error:")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
