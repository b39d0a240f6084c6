"""Leaflet and its plugins shipped with the package, inlined so a map opens with no network.

The files under ``maps/assets/`` are the npm packages' distribution files with their licences
(see ``maps/assets/README.md``). :func:`inline_assets` returns them as ``<style>``/``<script>``
elements, CSS images turned into ``data:`` URIs; :func:`make_offline` rewrites any folium map
(for example a GeoDataFrame's ``explore()`` map) to use them instead of the CDNs folium links.
"""

from __future__ import annotations

import base64
import functools
import logging
import re
from importlib import resources
from pathlib import Path

import folium
from branca.element import Element, Figure, MacroElement
from jinja2 import Template

__all__ = ["ASSETS", "CDN", "Raw", "inline_assets", "make_offline"]

logger = logging.getLogger(__name__)

#: The inlined assets in load order: name → (JS files, CSS files), relative to ``maps/assets``.
ASSETS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "leaflet": (("leaflet/leaflet.js",), ("leaflet/leaflet.css",)),
    "markercluster": (
        ("markercluster/leaflet.markercluster.js",),
        ("markercluster/MarkerCluster.css", "markercluster/MarkerCluster.Default.css"),
    ),
    "fullscreen": (
        ("fullscreen/Control.FullScreen.umd.js",),
        ("fullscreen/Control.FullScreen.css",),
    ),
    "polylinemeasure": (
        ("polylinemeasure/Leaflet.PolylineMeasure.js",),
        ("polylinemeasure/Leaflet.PolylineMeasure.css",),
    ),
    "search": (("search/leaflet-search.min.js",), ("search/leaflet-search.src.css",)),
    "sidebyside": (
        ("sidebyside/leaflet-side-by-side.js",),
        ("sidebyside/layout.css", "sidebyside/range.css"),
    ),
}
#: The same packages and versions on a CDN (``online=True``).
CDN: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "leaflet": (
        ("https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js",),
        ("https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css",),
    ),
    "markercluster": (
        ("https://cdn.jsdelivr.net/npm/leaflet.markercluster@1.5.3/dist/leaflet.markercluster.js",),
        (
            "https://cdn.jsdelivr.net/npm/leaflet.markercluster@1.5.3/dist/MarkerCluster.css",
            "https://cdn.jsdelivr.net/npm/leaflet.markercluster@1.5.3/dist/MarkerCluster.Default.css",
        ),
    ),
    "fullscreen": (
        ("https://cdn.jsdelivr.net/npm/leaflet.fullscreen@5.3.3/dist/Control.FullScreen.umd.js",),
        ("https://cdn.jsdelivr.net/npm/leaflet.fullscreen@5.3.3/dist/Control.FullScreen.css",),
    ),
    "polylinemeasure": (
        ("https://cdn.jsdelivr.net/npm/leaflet.polylinemeasure@3.0.0/Leaflet.PolylineMeasure.js",),
        ("https://cdn.jsdelivr.net/npm/leaflet.polylinemeasure@3.0.0/Leaflet.PolylineMeasure.css",),
    ),
    "search": (
        ("https://cdn.jsdelivr.net/npm/leaflet-search@4.0.0/dist/leaflet-search.min.js",),
        ("https://cdn.jsdelivr.net/npm/leaflet-search@4.0.0/dist/leaflet-search.src.css",),
    ),
}
_MIME = {".png": "image/png", ".gif": "image/gif", ".svg": "image/svg+xml"}
_URL = re.compile(r"url\(\s*(['\"]?)([^'\")]+)\1\s*\)")


def _root() -> Path:
    return Path(str(resources.files("fiveplans.maps") / "assets"))


def _data_uri(css_file: Path, ref: str) -> str | None:
    if ref.startswith(("data:", "#", "http:", "https:")):
        return None
    candidates = [css_file.parent / ref, css_file.parent / "images" / Path(ref).name]
    for path in candidates:
        path = path.resolve()
        if path.is_file() and path.suffix in _MIME:
            payload = base64.b64encode(path.read_bytes()).decode("ascii")
            return f"data:{_MIME[path.suffix]};base64,{payload}"
    return None


def _inline_css(path: Path) -> str:
    def sub(match: re.Match[str]) -> str:
        uri = _data_uri(path, match.group(2))
        return f'url("{uri}")' if uri else match.group(0)

    return _URL.sub(sub, path.read_text(encoding="utf-8"))


def _script_safe(text: str) -> str:
    """Text that cannot close the ``<script>``/``<style>`` element it is placed in."""
    return re.sub(r"</(script|style)", r"<\\/\1", text, flags=re.IGNORECASE)


@functools.lru_cache(maxsize=16)
def inline_assets(names: tuple[str, ...] = tuple(ASSETS), *, online: bool = False) -> str:
    """The ``<style>``/``<script>`` elements of the named assets (:data:`ASSETS` keys).

    Parameters
    ----------
    names
        Which packages, in load order (``leaflet`` first).
    online
        Link the same versions on jsDelivr instead of inlining them.

    Returns
    -------
    str
        HTML for the page's ``<head>``.
    """
    unknown = [n for n in names if n not in ASSETS]
    if unknown:
        raise ValueError(f"unknown asset(s) {unknown}; known: {list(ASSETS)}")
    parts: list[str] = []
    root = _root()
    for name in names:
        if online and name in CDN:
            js, css = CDN[name]
            parts += [f'<link rel="stylesheet" href="{href}"/>' for href in css]
            parts += [f'<script src="{src}"></script>' for src in js]
            continue
        js, css = ASSETS[name]
        for rel in css:
            text = _script_safe(_inline_css(root / rel))
            parts.append(f"<style>/* {rel} */\n{text}\n</style>")
        for rel in js:
            text = _script_safe((root / rel).read_text(encoding="utf-8"))
            parts.append(f"<script>/* {rel} */\n{text}\n</script>")
    return "\n".join(parts)


class Raw(Element):
    """HTML inserted as given (branca's ``Element`` would parse it as a Jinja template)."""

    _template = Template("{{ this.text }}")

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class _Inline(MacroElement):
    """Puts the inlined assets in the figure's header, before the map script."""

    def __init__(self, names: tuple[str, ...], online: bool) -> None:
        super().__init__()
        self._name = "FiveplansAssets"
        self.names = names
        self.online = online

    def render(self, **kwargs) -> None:
        figure = self.get_root()
        if isinstance(figure, Figure):
            figure.header.add_child(
                Raw(inline_assets(self.names, online=self.online)),
                name="fiveplans_assets",
                index=0,
            )
        super().render(**kwargs)


def _strip_links(element: object) -> None:
    """Drop the CDN links folium elements declare (default_js / default_css), recursively."""
    for attr in ("default_js", "default_css"):
        if hasattr(element, attr):
            setattr(element, attr, [])
    for child in getattr(element, "_children", {}).values():
        _strip_links(child)


def make_offline(
    m: folium.Map, *, assets: tuple[str, ...] = ("leaflet",), online: bool = False
) -> folium.Map:
    """Make a folium map open offline: Leaflet inlined, no jQuery/Bootstrap/CDN links.

    Every element's CDN links (folium's Leaflet, jQuery, Bootstrap, Font Awesome and
    awesome-markers) are dropped and the shipped Leaflet (plus the named ``assets``) is
    inlined. Elements that need a library not shipped here (e.g. branca's d3 colour bars) lose
    it: use categorical legends. Returns the same map (changed in place; call it on maps you
    made, e.g. ``make_offline(gdf.explore(...))``).
    """
    _strip_links(m)
    names = tuple(dict.fromkeys(("leaflet", *assets)))
    m.add_child(_Inline(names, online), name="fiveplans_assets")
    return m
