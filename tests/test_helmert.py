"""Control-point fitting: similarity (four-parameter) and affine transformations."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from scipy.optimize import least_squares

from fiveplans.errors import DataError
from fiveplans.helmert import RMS_WARN_M, fit_control_points, read_control_points

ROT_DEG = 2.0
SCALE = 1.00002
TX, TY = 400_000.0, 3_750_000.0
NOISE_M = 0.005


def similarity(xy: np.ndarray, rot_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    """Written out from the definition (rotation matrix), not from the code under test."""
    t = math.radians(rot_deg)
    rot = scale * np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return xy @ rot.T + np.array([tx, ty])


def local_points() -> np.ndarray:
    # six points spread over a 4 km drawing in a local grid
    return np.array(
        [[-1800.0, -1500.0], [1900.0, -1700.0], [2000.0, 1800.0], [-1700.0, 1900.0],
         [150.0, 80.0], [900.0, -300.0]]
    )  # fmt: skip


@pytest.fixture
def noisy() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    local = local_points()
    noise = rng.normal(0.0, NOISE_M, local.shape)
    target = similarity(local, ROT_DEG, SCALE, TX, TY) + noise
    return local, target, noise


def test_recovers_known_similarity(noisy: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    local, target, _noise = noisy
    fit = fit_control_points(local, target, point_ids=[f"P{i}" for i in range(6)])
    assert fit.kind == "similarity"
    assert fit.scale == pytest.approx(SCALE, abs=5e-6)
    assert fit.rotation_deg == pytest.approx(ROT_DEG, abs=5e-4)
    # translation: where the local origin lands
    x0, y0 = fit.transform(0.0, 0.0)
    assert float(x0) == pytest.approx(TX, abs=0.02)
    assert float(y0) == pytest.approx(TY, abs=0.02)
    # residuals are target minus fitted, and of the size of the noise
    fx, fy = fit.transform(local[:, 0], local[:, 1])
    np.testing.assert_allclose(fit.residuals, target - np.column_stack([fx, fy]), atol=1e-9)
    assert 0.2 * NOISE_M < fit.rms < 3 * NOISE_M * math.sqrt(2)
    assert fit.rms < RMS_WARN_M
    table = fit.residual_table()
    assert list(table.columns) == ["point_id", "dx", "dy", "residual_m"]
    assert table["point_id"].tolist() == [f"P{i}" for i in range(6)]
    np.testing.assert_allclose(table["residual_m"], np.hypot(*fit.residuals.T))
    assert fit.rms == pytest.approx(math.sqrt(np.mean(table["residual_m"] ** 2)))


def test_similarity_matches_scipy_least_squares(
    noisy: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> None:
    local, target, _noise = noisy

    def residuals(p: np.ndarray) -> np.ndarray:
        a, b, tx, ty = p
        x, y = local.T
        return np.concatenate(
            [a * x - b * y + tx - target[:, 0], b * x + a * y + ty - target[:, 1]]
        )

    ref = least_squares(residuals, x0=[1.0, 0.0, 0.0, 0.0], method="lm", xtol=1e-15, ftol=1e-15)
    fit = fit_control_points(local, target)
    a, b, tx, ty = fit.params
    assert a == pytest.approx(ref.x[0], abs=1e-9)
    assert b == pytest.approx(ref.x[1], abs=1e-9)
    assert tx == pytest.approx(ref.x[2], abs=1e-4)
    assert ty == pytest.approx(ref.x[3], abs=1e-4)
    assert fit.rms == pytest.approx(
        math.sqrt(np.mean(np.hypot(*ref.fun.reshape(2, -1)) ** 2)), rel=1e-6
    )


def test_recovers_affine() -> None:
    local = local_points()
    a0, a1, a2, b0, b1, b2 = 401_234.5, 0.9998, 0.0123, 3_751_000.25, -0.0101, 1.0004
    target = np.column_stack(
        [a0 + a1 * local[:, 0] + a2 * local[:, 1], b0 + b1 * local[:, 0] + b2 * local[:, 1]]
    )
    fit = fit_control_points(local, target, kind="affine")
    assert fit.kind == "affine"
    np.testing.assert_allclose(fit.params, (a0, a1, a2, b0, b1, b2), rtol=1e-9, atol=1e-6)
    assert fit.rms < 1e-6
    with pytest.raises(AttributeError):
        _ = fit.scale


def test_three_points_suffice_for_affine() -> None:
    local = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    target = local * 2 + 10
    fit = fit_control_points(local, target, kind="affine")
    np.testing.assert_allclose(fit.params, (10, 2, 0, 10, 0, 2), atol=1e-9)


def test_transform_is_inverse_consistent() -> None:
    local = local_points()
    target = similarity(local, ROT_DEG, SCALE, TX, TY)
    forward = fit_control_points(local, target)
    backward = fit_control_points(target, local)
    rng = np.random.default_rng(7)
    pts = rng.uniform(-3000, 3000, (100, 2))
    x, y = forward.transform(pts[:, 0], pts[:, 1])
    bx, by = backward.transform(x, y)
    np.testing.assert_allclose(np.column_stack([bx, by]), pts, atol=1e-6)
    assert backward.scale == pytest.approx(1 / SCALE, rel=1e-12)
    assert backward.rotation_deg == pytest.approx(-ROT_DEG, abs=1e-9)
    for kind in ("affine",):
        f = fit_control_points(local, target, kind=kind)
        b = fit_control_points(target, local, kind=kind)
        np.testing.assert_allclose(
            np.column_stack(b.transform(*f.transform(*pts.T))), pts, atol=1e-6
        )


def test_transform_geometries_and_shapes() -> None:
    local = local_points()
    fit = fit_control_points(local, similarity(local, ROT_DEG, SCALE, TX, TY))
    poly = shapely.Polygon([(0, 0), (100, 0), (100, 50), (0, 50)])
    line3d = shapely.LineString([(0, 0, 7.5), (10, 10, 8.5)])
    out = fit.transform_geometries([poly, line3d])
    want = similarity(shapely.get_coordinates(poly), ROT_DEG, SCALE, TX, TY)
    np.testing.assert_allclose(shapely.get_coordinates(out[0]), want, atol=1e-6)
    assert shapely.get_coordinates(out[1], include_z=True)[:, 2].tolist() == [7.5, 8.5]
    # area scales with scale²
    assert out[0].area == pytest.approx(poly.area * SCALE**2, rel=1e-9)
    grid = np.zeros((2, 3))
    x, y = fit.transform(grid, grid)
    assert x.shape == (2, 3) and y.shape == (2, 3)


def test_too_few_points_names_where() -> None:
    with pytest.raises(DataError) as info:
        fit_control_points([[0, 0], [1, 1]], [[5, 5], [6, 6]], where="urban_cp.csv")
    message = str(info.value)
    assert "urban_cp.csv" in message and "at least 3" in message and "add points" in message


def test_collinear_points_rejected() -> None:
    local = [[0.0, 0.0], [10.0, 10.0], [20.0, 20.0], [35.0, 35.0]]
    target = [[1.0, 1.0], [11.0, 11.0], [21.0, 21.0], [36.0, 36.0]]
    for kind in ("similarity", "affine"):
        with pytest.raises(DataError, match="collinear") as info:
            fit_control_points(local, target, kind=kind, where="cp.csv")
        assert "cp.csv" in str(info.value)
    with pytest.raises(DataError, match="coincide"):
        fit_control_points([[1, 1]] * 3, [[2, 2]] * 3)


def test_non_finite_values_name_the_point() -> None:
    local = local_points()
    target = similarity(local, ROT_DEG, SCALE, TX, TY)
    target[3, 1] = np.nan
    ids = ["A", "B", "C", "界桩4", "E", "F"]
    with pytest.raises(DataError, match="界桩4") as info:
        fit_control_points(local, target, point_ids=ids, where="cp.csv")
    assert "cp.csv" in str(info.value)
    local[1, 0] = np.inf
    with pytest.raises(DataError, match="B, 界桩4"):
        fit_control_points(local, target, point_ids=ids)


def test_mismatched_lengths_rejected() -> None:
    with pytest.raises(DataError, match="3 local points but 4 target"):
        fit_control_points(local_points()[:3], local_points()[:4])


# ------------------------------------------------------------------------------------------ CSV


def write_rows(path: Path, header: str, rows: list[str], encoding: str) -> Path:
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode(encoding))
    return path


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_read_control_points_encodings(tmp_path: Path, encoding: str) -> None:
    local = local_points()
    target = similarity(local, ROT_DEG, SCALE, TX, TY)
    rows = [
        f"控制点{i},{lx},{ly},{x:.4f},{y:.4f},备注"
        for i, ((lx, ly), (x, y)) in enumerate(zip(local, target, strict=True))
    ]
    path = write_rows(tmp_path / "cp.csv", "point_id,local_x,local_y,x,y,note", rows, encoding)
    ids, lxy, txy = read_control_points(path)
    assert ids == tuple(f"控制点{i}" for i in range(6))
    np.testing.assert_allclose(lxy, local)
    np.testing.assert_allclose(txy, target, atol=1e-4)
    fit = fit_control_points(lxy, txy, point_ids=ids, where=str(path))
    assert fit.rms < 1e-3
    assert fit.scale == pytest.approx(SCALE, abs=1e-7)


def test_read_control_points_bad_header(tmp_path: Path) -> None:
    path = write_rows(tmp_path / "cp.csv", "id,X_local,Y_local,X,Y", ["1,0,0,1,1"], "utf-8")
    with pytest.raises(DataError) as info:
        read_control_points(path, where="pilot.yml: plans.urban.control_points")
    message = str(info.value)
    assert "pilot.yml: plans.urban.control_points" in message
    assert "id, X_local, Y_local, X, Y" in message  # what was found
    assert "point_id,local_x,local_y,x,y" in message  # what is expected
    assert "point_id" in message.split("found")[0]  # the missing column is named


def test_read_control_points_bad_number_and_duplicates(tmp_path: Path) -> None:
    path = write_rows(
        tmp_path / "cp.csv", "point_id,local_x,local_y,x,y", ["K1,0,0,1,1", "K2,1 m,0,2,1"], "utf-8"
    )
    with pytest.raises(DataError, match=r"K2 \(line 3\).*local_x"):
        read_control_points(path)
    path = write_rows(
        tmp_path / "dup.csv", "point_id,local_x,local_y,x,y", ["K1,0,0,1,1", "K1,1,0,2,1"], "utf-8"
    )
    with pytest.raises(DataError, match="K1 appears more than once"):
        read_control_points(path)
    with pytest.raises(DataError, match="cannot read"):
        read_control_points(tmp_path / "missing.csv")
