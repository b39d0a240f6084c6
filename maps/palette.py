"""The map palette and labels shared by the interactive and the static maps.

Colours of the plans follow the national land-use colour conventions used on 国土空间规划 maps:
the colour table (RGB) of 《国土空间调查、规划、用途管制用地用海分类指南》 (自然资源部, 2023, 附录;
its classes continue GB/T 21010-2017 《土地利用现状分类》 and GB 50137-2011 《城市用地分类与规划
建设用地标准》) — 耕地 pale yellow (245,248,220), 林地 green (104,177,103), 草地 (205,245,122),
居住 yellow (255,255,45), 商业服务业 red (255,0,0), 工业 brown (187,150,116), 仓储 purple
(135,97,211), 交通运输 grey, 公用设施 dark teal (0,99,128), 绿地与开敞空间 green, 陆地水域 blue.
The common legend (CONTRACT §3) is coarser than those tables, so each class takes the colour of
the national class it stands for; construction land is coloured by its ``use``. Two departures,
for legibility: permanent basic farmland (永久基本农田) is drawn a stronger yellow-green than
other cultivated land (as 三区三线 maps do), and ecological protection (生态保护红线) a mid green.

Conflicts are drawn over the plans in saturated colours that none of the plan colours use, one
per type; a conflict whose ledger row carries a decision (调整类型) is drawn hatched and paler
with a dashed outline, an undecided one solid.
"""

from __future__ import annotations

from fiveplans.analysis.conflicts import TYPE_LABELS
from fiveplans.config import PLAN_LABELS
from fiveplans.layers.legend import LEGEND_LABELS, USE_LABELS

__all__ = [
    "CATCHMENT_COLOURS",
    "CONFLICT_COLOURS",
    "CONFLICT_LABELS",
    "LEGEND_COLOURS",
    "LEGEND_LABELS",
    "PLAN_LABELS",
    "STATUS_LABELS",
    "USE_COLOURS",
    "USE_LABELS",
    "ZONE_COLOURS",
    "ZONE_LABELS",
    "class_label",
    "feature_colour",
]

#: Fill colour of each common-legend class (construction land: see :data:`USE_COLOURS`).
LEGEND_COLOURS: dict[str, str] = {
    "basic_farmland": "#e3e68c",  # 永久基本农田: 耕地 hue, stronger
    "farmland": "#f5f8dc",  # 01 耕地 (245,248,220)
    "construction": "#c89664",  # construction without a use
    "ecological": "#5fae6e",  # 生态保护红线 / 生态空间
    "water": "#8cc8f0",  # 17 陆地水域
    "forest": "#68b167",  # 03 林地 (104,177,103)
    "grassland": "#cdf57a",  # 04 草地 (205,245,122)
    "other": "#dcdcdc",  # 23 其他土地
}
#: Fill colour of construction land by ``use``.
USE_COLOURS: dict[str, str] = {
    "industrial": "#bb9674",  # 1001 工业用地 (187,150,116)
    "logistics": "#8761d3",  # 11 仓储用地 (135,97,211)
    "residential": "#ffff2d",  # 07 居住用地 (255,255,45)
    "public": "#ff7fbf",  # 08 公共管理与公共服务用地
    "commercial": "#ff0000",  # 09 商业服务业用地 (255,0,0)
    "transport": "#b4b4b4",  # 12 交通运输用地
    "utilities": "#006380",  # 13 公用设施用地 (0,99,128)
    "green": "#4cc85a",  # 14 绿地与开敞空间用地
    "other": "#c8a0a0",  # other construction
}
#: Conflict colours by type (drawn over the plans).
CONFLICT_COLOURS: dict[str, str] = {
    "farmland_construction": "#d7191c",
    "ecology_construction": "#e66101",
    "plan_mismatch": "#2166ac",
    "use_mismatch": "#c51b7d",
    "corridor_construction": "#252525",
}
#: Bilingual conflict type labels, 中文 first.
CONFLICT_LABELS: dict[str, str] = {
    key: f"{TYPE_LABELS.get(key, key)} {key.replace('_', ' ')}" for key in CONFLICT_COLOURS
}
#: Zone colours (建成区 · 发展区 · 控制区).
ZONE_COLOURS: dict[str, str] = {
    "built": "#b2182b",
    "development": "#f4a582",
    "control": "#4393c3",
}
ZONE_LABELS: dict[str, str] = {
    "built": "建成区 Built zone",
    "development": "发展区 Development zone",
    "control": "控制区 Control zone",
}
#: Ledger decision status.
STATUS_LABELS: dict[str, str] = {
    "undecided": "待定 Undecided",
    "decided": "已定调整类型 Decided",
}
#: Colours of the cluster catchments / service areas (one per cluster, cycled).
CATCHMENT_COLOURS: tuple[str, ...] = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
)


def feature_colour(legend: object, use: object = None) -> str:
    """The fill colour of a feature of the common legend (construction land by ``use``)."""
    if legend == "construction" and isinstance(use, str) and use in USE_COLOURS:
        return USE_COLOURS[use]
    return LEGEND_COLOURS.get(legend if isinstance(legend, str) else "other", "#dcdcdc")


def class_label(legend: object, use: object = None) -> str:
    """The bilingual legend label of a feature (construction land by ``use``)."""
    if legend == "construction" and isinstance(use, str) and use in USE_LABELS:
        return f"建设用地·{USE_LABELS[use]}"
    return LEGEND_LABELS.get(legend if isinstance(legend, str) else "other", str(legend))
