"""fiveplans.maps: the interactive conflict map (map.html), static maps and the report.

>>> import fiveplans as fp
>>> m = fp.maps.conflict_map(pilot, conflicts, zones=zones)  # doctest: +SKIP
>>> fp.maps.save_map(m, "out/demo/map.html")  # doctest: +SKIP
"""

from fiveplans.maps import palette, static
from fiveplans.maps.explore import explore
from fiveplans.maps.interactive import BASEMAPS, DEFAULT_TOLERANCE_M, conflict_map, save_map
from fiveplans.maps.offline import make_offline

__all__ = [
    "BASEMAPS",
    "DEFAULT_TOLERANCE_M",
    "conflict_map",
    "explore",
    "make_offline",
    "palette",
    "save_map",
    "static",
]
