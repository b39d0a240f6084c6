"""Control-point fitting (控制点配准): bring CAD drawings in local coordinates into the working CRS.

A drawing made in an arbitrary local grid (独立坐标系) is tied to the working CRS by control points
known in both systems. Two models are fitted by least squares:

- ``similarity`` (four-parameter Helmert, 四参数转换): ``X = a x - b y + tx``,
  ``Y = b x + a y + ty``, i.e. rotation, one scale and a translation;
- ``affine`` (six parameters, 仿射变换): ``X = a0 + a1 x + a2 y``, ``Y = b0 + b1 x + b2 y``.

Coordinates are centred on the local control points' mean before solving, so eastings of
hundreds of kilometres do not spoil the conditioning.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike, NDArray

from fiveplans.errors import DataError

__all__ = [
    "RMS_WARN_M",
    "ControlFit",
    "fit_control_points",
    "read_control_points",
]

logger = logging.getLogger(__name__)

RMS_WARN_M = 0.5
"""Residual RMS (metres) above which a control-point fit deserves a warning."""

Kind = Literal["similarity", "affine"]
Array = NDArray[np.float64]

_EXPECTED_HEADER = "point_id,local_x,local_y,x,y"
_COLUMNS = ("point_id", "local_x", "local_y", "x", "y")
_ENCODINGS = ("utf-8-sig", "gbk")


@dataclass(frozen=True)
class ControlFit:
    """A fitted control-point transformation from local to target coordinates.

    Attributes
    ----------
    kind
        ``"similarity"`` or ``"affine"``.
    params
        Similarity: ``(a, b, tx, ty)`` with ``X = a x - b y + tx``, ``Y = b x + a y + ty``.
        Affine: ``(a0, a1, a2, b0, b1, b2)`` with ``X = a0 + a1 x + a2 y``,
        ``Y = b0 + b1 x + b2 y``.
    residuals
        ``(n, 2)`` array of target minus fitted coordinates, metres.
    point_ids
        The control points' ids, in the order of ``residuals``.
    """

    kind: Kind
    params: tuple[float, ...]
    residuals: Array
    point_ids: tuple[str, ...]

    @property
    def rms(self) -> float:
        """Root-mean-square of the residual vectors' lengths, metres."""
        return float(np.sqrt(np.mean(np.sum(self.residuals**2, axis=1))))

    def _similarity(self) -> tuple[float, float]:
        if self.kind != "similarity":
            raise AttributeError("scale and rotation_deg are defined for similarity fits only")
        a, b = self.params[0], self.params[1]
        return a, b

    @property
    def scale(self) -> float:
        """Scale factor ``sqrt(a² + b²)`` of a similarity fit."""
        a, b = self._similarity()
        return math.hypot(a, b)

    @property
    def rotation_deg(self) -> float:
        """Rotation angle ``atan2(b, a)`` of a similarity fit, degrees counter-clockwise."""
        a, b = self._similarity()
        return math.degrees(math.atan2(b, a))

    def transform(self, x: ArrayLike, y: ArrayLike) -> tuple[Array, Array]:
        """Apply the transformation to local coordinates (vectorised, shapes preserved)."""
        xs = np.asarray(x, dtype="float64")
        ys = np.asarray(y, dtype="float64")
        if self.kind == "similarity":
            a, b, tx, ty = self.params
            return a * xs - b * ys + tx, b * xs + a * ys + ty
        a0, a1, a2, b0, b1, b2 = self.params
        return a0 + a1 * xs + a2 * ys, b0 + b1 * xs + b2 * ys

    def transform_geometries(self, geoms: ArrayLike) -> NDArray[np.object_]:
        """Apply the transformation to shapely geometries (Z values are kept unchanged)."""

        def apply(coords: Array) -> Array:
            out = coords.copy()
            out[:, 0], out[:, 1] = self.transform(coords[:, 0], coords[:, 1])
            return out

        return shapely.transform(np.asarray(geoms, dtype=object), apply, include_z=True)

    def residual_table(self) -> pd.DataFrame:
        """Residuals per control point: ``point_id``, ``dx``, ``dy``, ``residual_m``."""
        return pd.DataFrame(
            {
                "point_id": list(self.point_ids),
                "dx": self.residuals[:, 0],
                "dy": self.residuals[:, 1],
                "residual_m": np.hypot(self.residuals[:, 0], self.residuals[:, 1]),
            }
        )


def _where(where: str) -> str:
    return f"{where}: " if where else ""


def _as_xy(values: ArrayLike, name: str, where: str) -> Array:
    arr = np.asarray(values, dtype="float64")
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise DataError(
            f"{_where(where)}{name} must be an (n, 2) array of x, y coordinates, got shape "
            f"{arr.shape}."
        )
    return arr


def fit_control_points(
    local_xy: ArrayLike,
    target_xy: ArrayLike,
    *,
    kind: Kind = "similarity",
    point_ids: Sequence[str] | None = None,
    where: str = "",
) -> ControlFit:
    """Fit a similarity or affine transformation to control points by least squares.

    Parameters
    ----------
    local_xy
        ``(n, 2)`` control points in the local (drawing) coordinates.
    target_xy
        ``(n, 2)`` the same points in the target (working) CRS, metres.
    kind
        ``"similarity"`` (four parameters, default) or ``"affine"`` (six).
    point_ids
        Names of the points for messages and the residual table; default ``"1"``, ``"2"``, ….
    where
        What the points came from (e.g. the CSV path), named in error messages.

    Returns
    -------
    ControlFit

    Raises
    ------
    DataError
        With fewer than 3 points, non-finite values (naming the point), or points that are
        collinear or coincide (no unique solution).
    """
    if kind not in ("similarity", "affine"):
        raise DataError(
            f"{_where(where)}unknown control-point model {kind!r}: use similarity or affine."
        )
    local = _as_xy(local_xy, "local_xy", where)
    target = _as_xy(target_xy, "target_xy", where)
    n = len(local)
    if len(target) != n:
        raise DataError(
            f"{_where(where)}{n} local points but {len(target)} target points: every control "
            "point needs both local and target coordinates."
        )
    if point_ids is None:
        ids = tuple(str(i + 1) for i in range(n))
    else:
        ids = tuple(str(p) for p in point_ids)
    if len(ids) != n:
        raise DataError(f"{_where(where)}{len(ids)} point ids for {n} control points.")
    bad = ~(np.isfinite(local).all(axis=1) & np.isfinite(target).all(axis=1))
    if bad.any():
        names = ", ".join(ids[i] for i in np.flatnonzero(bad))
        raise DataError(
            f"{_where(where)}control point(s) {names} have missing or non-numeric coordinates: "
            "fill in local_x, local_y, x and y for them or remove the row(s)."
        )
    if n < 3:
        raise DataError(
            f"{_where(where)}only {n} control point(s) (控制点); at least 3 well-spread points "
            "are needed (4 or more recommended, so residuals can be checked): add points "
            "known in both the drawing and the working CRS."
        )

    origin = local.mean(axis=0)
    centre = target.mean(axis=0)
    lx, ly = (local - origin).T
    tx_, ty_ = (target - centre).T
    spread = float(np.max(np.hypot(lx, ly)))
    # Collinear or coincident points leave the rotation/shear undetermined.
    sv = np.linalg.svd(np.column_stack([lx, ly]), compute_uv=False)
    if spread == 0.0 or sv[-1] <= 1e-6 * sv[0]:
        raise DataError(
            f"{_where(where)}the {n} control points ({', '.join(ids)}) are collinear or "
            "coincide in local coordinates, so rotation and scale cannot be determined: use "
            "points spread over the drawing, not along one line."
        )

    zeros = np.zeros(n)
    ones = np.ones(n)
    if kind == "similarity":
        # unknowns (a, b, tx, ty) in centred coordinates
        design = np.vstack(
            [
                np.column_stack([lx, -ly, ones, zeros]),
                np.column_stack([ly, lx, zeros, ones]),
            ]
        )
        rhs = np.concatenate([tx_, ty_])
        sol, _res, rank, _sv = np.linalg.lstsq(design, rhs, rcond=None)
        a, b, cx, cy = sol
        # undo the centring: X = a (x - ox) - b (y - oy) + cx + Cx
        tx = cx + centre[0] - a * origin[0] + b * origin[1]
        ty = cy + centre[1] - b * origin[0] - a * origin[1]
        params: tuple[float, ...] = (float(a), float(b), float(tx), float(ty))
        needed = 4
    else:
        design1 = np.column_stack([ones, lx, ly])
        design = np.block([[design1, np.zeros((n, 3))], [np.zeros((n, 3)), design1]])
        rhs = np.concatenate([tx_, ty_])
        sol, _res, rank, _sv = np.linalg.lstsq(design, rhs, rcond=None)
        c0, a1, a2, d0, b1, b2 = sol
        a0 = c0 + centre[0] - a1 * origin[0] - a2 * origin[1]
        b0 = d0 + centre[1] - b1 * origin[0] - b2 * origin[1]
        params = tuple(float(v) for v in (a0, a1, a2, b0, b1, b2))
        needed = 6
    if rank < needed:
        raise DataError(
            f"{_where(where)}the control points ({', '.join(ids)}) do not determine a "
            f"{kind} transformation (degenerate geometry): use at least 3 points spread over "
            "the drawing."
        )

    fit = ControlFit(kind=kind, params=params, residuals=np.empty((n, 2)), point_ids=ids)
    fx, fy = fit.transform(local[:, 0], local[:, 1])
    residuals = np.column_stack([target[:, 0] - fx, target[:, 1] - fy])
    fit = ControlFit(kind=kind, params=params, residuals=residuals, point_ids=ids)
    logger.debug("%s control fit from %d points, RMS %.3f m", kind, n, fit.rms)
    return fit


def _decode(raw: bytes, path: Path) -> str:
    for encoding in _ENCODINGS:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DataError(
        f"{path}: the control-point CSV is neither UTF-8 nor GBK text: save it as UTF-8 CSV."
    )


def read_control_points(
    path: str | Path, *, where: str = ""
) -> tuple[tuple[str, ...], Array, Array]:
    """Read a control-point CSV with columns ``point_id, local_x, local_y, x, y``.

    Parameters
    ----------
    path
        The CSV file (UTF-8, UTF-8 with BOM, or GBK); other columns are ignored.
    where
        How to name the file in messages (e.g. ``pilot.yml: plans.urban.control_points``);
        default the path.

    Returns
    -------
    tuple
        ``(ids, local_xy, target_xy)``: the point ids and two ``(n, 2)`` float arrays.

    Raises
    ------
    DataError
        When the file is missing or unreadable, columns are missing (listing the columns found
        and the expected header), or a coordinate is not a number (naming the point).
    """
    path = Path(path)
    label = where or str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"{label}: cannot read the control-point CSV ({exc.strerror or exc}): check the "
            "`control_points:` path."
        ) from None
    text = _decode(raw, path)
    reader = csv.DictReader(io.StringIO(text))
    originals = list(reader.fieldnames or [])
    found = [str(name).strip() for name in originals]
    lookup = {name.lower(): original for name, original in zip(found, originals, strict=True)}
    missing = [col for col in _COLUMNS if col not in lookup]
    if missing:
        raise DataError(
            f"{label}: the control-point CSV lacks column(s) {', '.join(missing)}; found "
            f"{', '.join(found) if found else 'no header'}. The first line must be the header "
            f"`{_EXPECTED_HEADER}` (local_x/local_y in the drawing, x/y in the working CRS)."
        )
    ids: list[str] = []
    values: list[list[float]] = []
    for line, row in enumerate(reader, start=2):
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        pid = (row[lookup["point_id"]] or "").strip() or f"row {line}"
        coords = []
        for col in _COLUMNS[1:]:
            cell = (row[lookup[col]] or "").strip()
            try:
                coords.append(float(cell))
            except ValueError:
                raise DataError(
                    f"{label}: control point {pid} (line {line}) has {col} = {cell!r}, not a "
                    "number: write plain decimal numbers (no units, no thousands separators)."
                ) from None
        ids.append(pid)
        values.append(coords)
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise DataError(
            f"{label}: point_id {', '.join(dupes)} appears more than once: give each control "
            "point its own id."
        )
    arr = np.asarray(values, dtype="float64").reshape(-1, 4)
    return tuple(ids), arr[:, 0:2].copy(), arr[:, 2:4].copy()
