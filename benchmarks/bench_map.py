"""The conflict map with ~58,000 conflict pieces: ``conflict_map`` vs plain folium ``GeoJson``.

Goal (issue: the conflict map): a pilot with ~58,000 conflict pieces — the conflicts with the
plans under them — gives a ``map.html`` of at most 10 MB, written in at most 3 s and rendered
in headless Chromium (offline, Leaflet inlined) in at most 2.5 s, every conflict drawn,
clickable and findable by id. The peer is what one would write with folium alone: the
conflicts (not even the plans) as one ``folium.GeoJson`` with a popup of id, type and area,
Leaflet inlined the same way (measured in the issue: 49 MB, 11.6 s, 5.5 s).

Data: the conflicts benchmark's synthetic coverage (``bench_conflicts.make_layers``: 50,000
basic-farmland Voronoi patches over a 20 km square) with its first 5,400 construction parcels,
whose ``find_conflicts(types=["farmland_construction"], sliver_m2=0)`` gives ~57,600 pieces.
Our map carries the land-use plan (50,000 patches), the zone plan (5,400 parcels), the
conflicts and the boundary; both plans and the conflicts are shown at start.

Measured: the whole user call (``conflict_map`` + ``save_map``; ``folium.Map`` + ``GeoJson`` +
``save``), best of two, after imports; the file size; in Chromium (fresh tab, network off) the
time from navigation start to the first frame after everything is drawn
(``performance.now()`` in a ``requestAnimationFrame`` after the map script — for folium after
the load event), and that the number of drawn features equals the data. Every conflict id is
then looked up with the map's search index and 200 random conflicts are hit-tested at an
inner point. The machine's load average is printed first: other processes on the 2 cores skew
the times. Run: ``python -m benchmarks map``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

N_PARCELS = 5_400
GOALS = {"size_mb": 10.0, "write_s": 3.0, "render_s": 2.5}


def make_data() -> tuple[dict, object]:
    """The layers (EPSG:4547) and their farmland × construction conflicts."""
    import fiveplans as fp
    from benchmarks.bench_conflicts import make_layers

    layers = make_layers(1)
    layers["cluster"] = layers["cluster"].iloc[:N_PARCELS]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        conflicts = fp.analysis.find_conflicts(layers, types=["farmland_construction"], sliver_m2=0)
    return layers, conflicts


def _best(func, runs: int = 2) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(runs):
        t = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t)
    return best, out


def ours(layers: dict, conflicts, path: Path) -> float:
    import fiveplans as fp

    def call():
        m = fp.maps.conflict_map(layers, conflicts, show_plans=("land_use", "cluster"))
        return fp.maps.save_map(m, path)

    seconds, _ = _best(call)
    return seconds


def theirs(conflicts, path: Path) -> float:
    import folium

    from fiveplans.maps.offline import make_offline

    def call():
        data = conflicts[["conflict_id", "type", "area_m2", "geometry"]].to_crs(4326)
        x0, y0, x1, y1 = data.total_bounds
        m = folium.Map(location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=13, tiles=None)
        folium.GeoJson(
            data, popup=folium.GeoJsonPopup(fields=["conflict_id", "type", "area_m2"])
        ).add_to(m)
        m.fit_bounds([[y0, x0], [y1, x1]])
        make_offline(m)
        m.save(str(path))

    seconds, _ = _best(call)
    return seconds


RENDERS = 3


def render_ours(browser, path: Path, conflicts) -> dict:
    times = []
    for _ in range(RENDERS):  # fresh tabs; the median is reported
        page = browser.open(path.resolve().as_uri(), timeout=180)
        page.wait_for("window.fiveplansMap && window.fiveplansMap.rendered", timeout=180)
        times.append(page.evaluate("fiveplansMap.renderedAt") / 1000)
    ms = float(np.median(times)) * 1000
    counts = json.loads(
        page.evaluate(
            "JSON.stringify(Object.keys(fiveplansMap.layers).map(function (k) {"
            " var l = fiveplansMap.layers[k]; return [k, l.getData().n, l.drawn]; }))"
        )
    )
    ids = conflicts["conflict_id"].tolist()
    t = time.perf_counter()
    found = page.evaluate(
        f"{json.dumps(ids)}.filter(function (id) {{ return !fiveplansMap.find(id); }}).length",
        timeout=120,
    )
    lookup_s = time.perf_counter() - t
    rng = np.random.default_rng(3)
    sample = conflicts.iloc[rng.choice(len(conflicts), 200, replace=False)]
    pts = sample.geometry.representative_point().to_crs(4326)
    probes = [[p.y, p.x, cid] for p, cid in zip(pts, sample["conflict_id"], strict=True)]
    missed = page.evaluate(
        f"{json.dumps(probes)}.filter(function (p) {{ return fiveplansMap.hitsAt(L.latLng(p[0], p[1]), 50)"
        ".map(function (h) { return h.layer.getData().value(h.f, 'conflict_id'); }).indexOf(p[2]) < 0; }).length",
        timeout=120,
    )
    return {
        "render_s": ms / 1000,
        "render_all": times,
        "layers": {k: (n, drawn) for k, n, drawn in counts},
        "ids_not_found": found,
        "lookup_s": lookup_s,
        "clicks_missed": missed,
        "errors": page.errors(),
    }


def render_theirs(browser, path: Path) -> dict:
    times = []
    for _ in range(RENDERS):
        page = browser.open(path.resolve().as_uri(), timeout=300)
        times.append(
            page.evaluate(
                "new Promise(function (ok) { requestAnimationFrame(function () { setTimeout("
                "function () { ok(performance.now()); }, 0); }); })",
                timeout=300,
            )
            / 1000
        )
    ms = float(np.median(times)) * 1000
    drawn = page.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
    return {"render_s": ms / 1000, "render_all": times, "drawn": drawn, "errors": page.errors()}


def main() -> None:
    import fiveplans.maps  # noqa: F401 - imports before the timed calls
    from fiveplans.maps.browser import Chromium, find_chromium

    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (2 cores)", flush=True)
    t = time.perf_counter()
    layers, conflicts = make_data()
    print(
        f"data: {len(layers['land_use']):,} farmland patches, {len(layers['cluster']):,} parcels, "
        f"{len(conflicts):,} conflict pieces ({time.perf_counter() - t:.1f} s)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_map_") as tmp:
        a, b = Path(tmp) / "ours.html", Path(tmp) / "folium.html"
        write_a = ours(layers, conflicts, a)
        write_b = theirs(conflicts, b)
        size_a, size_b = a.stat().st_size / 1e6, b.stat().st_size / 1e6
        print(f"{'':32}{'fiveplans':>14}{'folium GeoJson':>16}")
        print(f"{'features in the file':32}{len(conflicts) + 55_401:>14,}{len(conflicts):>16,}")
        print(f"{'size (MB)':32}{size_a:>14.1f}{size_b:>16.1f}")
        print(f"{'written (s, best of 2)':32}{write_a:>14.2f}{write_b:>16.2f}", flush=True)
        if find_chromium() is None:
            print(
                "Chromium not found: render not measured (scripts/install-system-deps.sh chromium)"
            )
            return
        with Chromium() as browser:
            ra = render_ours(browser, a, conflicts)
        with Chromium() as browser:
            rb = render_theirs(browser, b)
        print(
            f"{'rendered in Chromium (s, median)':32}{ra['render_s']:>14.2f}{rb['render_s']:>16.2f}"
        )
        print(
            f"  each render (s): ours {[round(t, 2) for t in ra['render_all']]}, "
            f"folium {[round(t, 2) for t in rb['render_all']]}"
        )
        drawn_c = sum(d for k, (n, d) in ra["layers"].items() if k.startswith("conflicts_"))
        print(f"{'conflicts drawn':32}{drawn_c:>14,}{rb['drawn']:>16,}")
        print(f"layers (features, drawn): {ra['layers']}")
        print(
            f"every id findable: {ra['ids_not_found'] == 0} ({len(conflicts):,} looked up in "
            f"{ra['lookup_s']:.2f} s); 200 random clicks missed: {ra['clicks_missed']}"
        )
        print(f"console errors: ours {ra['errors']} folium {rb['errors']}")
        checks = {
            f"size <= {GOALS['size_mb']} MB": size_a <= GOALS["size_mb"],
            f"written <= {GOALS['write_s']} s": write_a <= GOALS["write_s"],
            f"rendered <= {GOALS['render_s']} s": ra["render_s"] <= GOALS["render_s"],
            "every conflict drawn": drawn_c == len(conflicts),
            "every conflict findable": ra["ids_not_found"] == 0,
            "clicks hit": ra["clicks_missed"] == 0,
        }
        for name, ok in checks.items():
            print(f"  goal {name}: {'met' if ok else 'NOT met'}")
        print(
            f"vs folium: {size_b / size_a:.1f}x smaller, {write_b / write_a:.1f}x faster to write, "
            f"{rb['render_s'] / ra['render_s']:.1f}x faster to render",
            flush=True,
        )


if __name__ == "__main__":
    main()
