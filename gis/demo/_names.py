"""Code names and Chinese name generators of the demo pilot (written independently of the
package's code tables, so the ground truth does not depend on them)."""

from __future__ import annotations

import numpy as np

__all__ = [
    "ECO_NAMES",
    "GB50137",
    "GBT21010",
    "INFRA_NAMES",
    "INFRA_WIDTH_M",
    "TDYTQ",
    "firm_name",
    "village_names",
]

# code: (中文名, legend, use)
TDYTQ: dict[str, tuple[str, str, str | None]] = {
    "010": ("基本农田保护区", "basic_farmland", None),
    "020": ("一般农地区", "farmland", None),
    "030": ("城镇建设用地区", "construction", "other"),
    "040": ("村镇建设用地区", "construction", "residential"),
    "050": ("独立工矿区", "construction", "industrial"),
    "070": ("生态环境安全控制区", "ecological", None),
    "090": ("林业用地区", "forest", None),
}

GB50137: dict[str, tuple[str, str, str | None]] = {
    "R2": ("二类居住用地", "construction", "residential"),
    "A1": ("行政办公用地", "construction", "public"),
    "A33": ("中小学用地", "construction", "public"),
    "A51": ("医院用地", "construction", "public"),
    "B1": ("商业用地", "construction", "commercial"),
    "M1": ("一类工业用地", "construction", "industrial"),
    "M2": ("二类工业用地", "construction", "industrial"),
    "M3": ("三类工业用地", "construction", "industrial"),
    "W1": ("一类物流仓储用地", "construction", "logistics"),
    "S1": ("城市道路用地", "construction", "transport"),
    "S41": ("公共交通场站用地", "construction", "transport"),
    "U11": ("供水用地", "construction", "utilities"),
    "U12": ("供电用地", "construction", "utilities"),
    "U21": ("排水用地", "construction", "utilities"),
    "U31": ("消防用地", "construction", "utilities"),
    "G1": ("公园绿地", "construction", "green"),
    "G2": ("防护绿地", "construction", "green"),
    "E1": ("水域", "water", None),
    "E2": ("农林用地", "farmland", None),
}

GBT21010: dict[str, tuple[str, str, str | None]] = {
    "0101": ("水田", "farmland", None),
    "0102": ("水浇地", "farmland", None),
    "0103": ("旱地", "farmland", None),
    "0201": ("果园", "farmland", None),
    "0301": ("乔木林地", "forest", None),
    "0305": ("灌木林地", "forest", None),
    "0404": ("其他草地", "grassland", None),
    "0505": ("商务金融用地", "construction", "commercial"),
    "0601": ("工业用地", "construction", "industrial"),
    "0701": ("城镇住宅用地", "construction", "residential"),
    "0702": ("农村宅基地", "construction", "residential"),
    "0801": ("机关团体用地", "construction", "public"),
    "0803": ("教育用地", "construction", "public"),
    "0805": ("医疗卫生用地", "construction", "public"),
    "0809": ("公用设施用地", "construction", "utilities"),
    "0810": ("公园与绿地", "construction", "green"),
    "1003": ("公路用地", "construction", "transport"),
    "1004": ("城镇村道路用地", "construction", "transport"),
    "1006": ("农村道路", "other", None),
    "1101": ("河流水面", "water", None),
    "1104": ("坑塘水面", "water", None),
    "1106": ("内陆滩涂", "water", None),
    "1107": ("沟渠", "water", None),
    "1202": ("设施农用地", "farmland", None),
}

ECO_NAMES: dict[str, tuple[str, str, str | None]] = {
    "STBHHX": ("生态保护红线", "ecological", None),
    "YYSBH": ("饮用水水源保护区", "ecological", None),
    "STLD": ("生态廊道", "ecological", None),
    "YBSTKJ": ("一般生态空间", "ecological", None),
    "HLSM": ("河流水面", "water", None),
    "HPSM": ("湖泊水库水面", "water", None),
    "GYL": ("公益林", "forest", None),
}

INFRA_NAMES: dict[str, tuple[str, str, str | None]] = {
    "DL500": ("500kV高压线走廊", "other", None),
    "DL220": ("220kV高压线走廊", "other", None),
    "DL110": ("110kV高压线走廊", "other", None),
    "RQGD": ("高压燃气管道", "other", None),
    "TL": ("铁路", "other", None),
    "GSGL": ("高速公路", "other", None),
    "BDZ": ("变电站", "construction", "utilities"),
    "SC": ("水厂", "construction", "utilities"),
    "WSCLC": ("污水处理厂", "construction", "utilities"),
    "XX": ("学校", "construction", "public"),
    "YY": ("医院", "construction", "public"),
    "XFZ": ("消防站", "construction", "public"),
    "WLZX": ("物流中心", "construction", "logistics"),
    "GJZ": ("公交场站", "construction", "transport"),
}

INFRA_WIDTH_M: dict[str, float] = {
    "DL500": 75.0,
    "DL220": 40.0,
    "DL110": 25.0,
    "RQGD": 10.0,
    "TL": 30.0,
    "GSGL": 100.0,
}
"""Total corridor protection widths (m); the conflict uses buffer(line, width / 2)."""

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
_VILLAGE_SUFFIX = ["庄", "营", "寨", "店", "楼", "湾", "岗", "集", "屯", "堂", "桥", "洼"]
_FIRM_PREFIX = ["叶县", "平顶山", "鹰城", "昆阳", "盐都", "中原", "豫南", "河南", "沙河", "舞阳"]
_FIRM_CORE = [
    "华强", "金龙", "恒达", "宏远", "盛源", "鑫达", "永兴", "天瑞", "中盐", "博奥", "瑞丰",
    "隆泰", "昌盛", "顺通", "汇丰", "东方", "新星", "宇通", "嘉禾", "联创", "富源", "立信",
    "安泰", "佳美", "利民", "正大", "伟业", "海川", "金地", "远航",
]  # fmt: skip
_FIRM_SUFFIX = {
    "盐化工": ["盐化有限公司", "化工有限公司", "精细化工有限公司", "盐业有限公司", "新材料有限公司"],
    "装备制造": ["机械制造有限公司", "电气有限公司", "重工有限公司", "装备有限公司", "阀门有限公司"],
    "食品加工": ["食品有限公司", "面业有限公司", "肉类加工有限公司", "饮品有限公司", "粮油有限公司"],
    "现代物流": ["物流有限公司", "仓储有限公司", "供应链有限公司", "运输有限公司"],
}  # fmt: skip


def village_names(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct village names (行政村) such as 王庄村."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < n:
        name = (
            _SURNAMES[int(rng.integers(len(_SURNAMES)))]
            + _VILLAGE_SUFFIX[int(rng.integers(len(_VILLAGE_SUFFIX)))]
            + "村"
        )
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def firm_name(rng: np.random.Generator, industry: str, seen: set[str]) -> str:
    """A distinct Chinese firm name of ``industry``; ``seen`` is updated."""
    while True:
        name = (
            _FIRM_PREFIX[int(rng.integers(len(_FIRM_PREFIX)))]
            + _FIRM_CORE[int(rng.integers(len(_FIRM_CORE)))]
            + _FIRM_SUFFIX[industry][int(rng.integers(len(_FIRM_SUFFIX[industry])))]
        )
        if name not in seen:
            seen.add(name)
            return name
