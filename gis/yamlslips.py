"""YAML slips in a pilot file, explained in a planner's words (中文在前 Chinese first).

A pilot YAML is typed by hand, often with a Chinese input method switched on. The usual slips
are full-width punctuation (``crs： EPSG:4547``), tabs, a colon without its space, indentation
that does not line up and an unclosed ``{…}``. PyYAML reports them in its own terms, often on the
line *after* the slip; :func:`find_slip` finds the slip itself and :func:`explain_yaml_error`
turns any remaining YAML error into a message that shows the offending line and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

__all__ = [
    "FULL_WIDTH",
    "Slip",
    "explain_yaml_error",
    "find_duplicate_key",
    "find_slip",
    "line_of_key",
]

#: Full-width (全角) punctuation a Chinese input method types, with the ASCII it stands for.
FULL_WIDTH: dict[str, tuple[str, str]] = {
    "：": (":", "全角冒号 full-width colon"),
    "，": (",", "全角逗号 full-width comma"),
    "｛": ("{", "全角花括号 full-width brace"),
    "｝": ("}", "全角花括号 full-width brace"),
    "［": ("[", "全角方括号 full-width bracket"),
    "］": ("]", "全角方括号 full-width bracket"),
    "【": ("[", "中文方括号 Chinese bracket"),
    "】": ("]", "中文方括号 Chinese bracket"),
    "＂": ('"', "全角引号 full-width quote"),
    "＇": ("'", "全角引号 full-width quote"),
    "“": ('"', "中文引号 Chinese quote"),
    "”": ('"', "中文引号 Chinese quote"),
    "‘": ("'", "中文引号 Chinese quote"),
    "’": ("'", "中文引号 Chinese quote"),
    "－": ("-", "全角减号 full-width hyphen"),
    "＃": ("#", "全角井号 full-width hash"),
    "\u3000": (" ", "全角空格 full-width space"),
}

# a key (ASCII word or quoted) followed by a full-width colon: `crs：`, `- path：`, `{path：`
_KEY_FW_COLON = re.compile(
    r"""(?:^\s*(?:[-－]\s+)?|[{,，｛]\s*)(?:[A-Za-z_][\w.-]*|"[^"]*"|'[^']*')\s*："""
)
# a value opened by a Chinese quote: `path: “a.shp”`
_VALUE_CN_QUOTE = re.compile(r"""(?:^\s*(?:-\s+)?|[{,]\s*)(?P<key>[\w.-]+)\s*[:：]\s*[“”‘’＂＇]""")
_LIST_FW_DASH = re.compile(r"^\s*－\s")
#: keys whose values are free text, where Chinese punctuation is the user's to choose
_FREE_TEXT_KEYS = ("name", "name_zh")


def _free_text(before: str) -> bool:
    return bool(re.match(r"^\s*(?:name|name_zh)\s*:", before)) or bool(
        re.search(r"[{,]\s*(?:name|name_zh)\s*:[^,{}]*$", before)
    )


@dataclass(frozen=True)
class Slip:
    """One slip: where it is and how to fix it."""

    line: int  #: 1-based line number
    column: int  #: 1-based column of the offending character
    text: str  #: the line as written
    problem: str  #: bilingual, Chinese first
    fix: str  #: bilingual, Chinese first

    def message(self, path: object) -> str:
        """The full message: file, line, the line shown with a caret, the fix."""
        return f"{path}: 第 {self.line} 行 line {self.line}: {self.problem}\n{_show(self.text, self.line, self.column)}\n解决 Fix: {self.fix}"


def _display_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _show(text: str, line: int, column: int) -> str:
    """The line with a caret under ``column`` (wide characters count double)."""
    gutter = f"    {line} | "
    shown = text.replace("\t", "→")
    caret = " " * (len(gutter) + _display_width(shown[: max(column - 1, 0)])) + "^"
    return f"{gutter}{shown}\n{caret}"


def _outside_quotes_and_comment(line: str) -> str:
    """The line with quoted text and any comment blanked out (same length)."""
    out = []
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            out.append(" ")
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'" and (i == 0 or line[i - 1] in " \t{[,:"):
            quote = ch
            out.append(" ")
            continue
        if ch == "#" and (i == 0 or line[i - 1] in " \t"):
            out.extend(" " * (len(line) - i))
            break
        out.append(ch)
    return "".join(out)


def _ascii_line(line: str) -> str:
    """The line with full-width punctuation replaced and a space after each key's colon."""
    fixed = "".join(FULL_WIDTH[ch][0] if ch in FULL_WIDTH else ch for ch in line)
    fixed = re.sub(r"^(\s*(?:-\s+)?[A-Za-z_][\w.-]*):(?=\S)", r"\1: ", fixed)
    return re.sub(r"([{,]\s*[A-Za-z_][\w.-]*):(?=[^\s/])", r"\1: ", fixed)


def find_slip(text: str) -> Slip | None:
    """The first input-method or whitespace slip in a pilot YAML text, or ``None``.

    Found whether or not PyYAML can parse the text: ``plans:\\n  cluster： {path: a}`` parses
    (as a key named ``cluster： {path``) but is a slip all the same.
    """
    for number, line in enumerate(text.splitlines(), start=1):
        bare = _outside_quotes_and_comment(line)
        indent = re.match(r"^[ \t\u3000]*", line)
        lead = indent.group(0) if indent else ""
        if "\t" in lead:
            col = lead.index("\t") + 1
            return Slip(
                number,
                col,
                line,
                "缩进用了制表符 Tab — the line is indented with a tab; YAML allows spaces only",
                "把 Tab 换成空格（每级两个空格）— replace the tab with spaces (two per level); "
                "in most editors: 'Convert indentation to spaces'",
            )
        if "\u3000" in lead:
            col = lead.index("\u3000") + 1
            return Slip(
                number,
                col,
                line,
                "缩进用了全角空格 — the line is indented with a full-width space (U+3000, typed "
                "with a Chinese input method)",
                "删除全角空格，改用半角空格 — replace it with ordinary spaces: "
                f"`{_ascii_line(line).strip()}` indented with spaces",
            )
        for pattern in (_KEY_FW_COLON, _LIST_FW_DASH):
            m = pattern.search(bare)
            if m:
                ch_at = next(i for i in range(m.start(), len(bare)) if bare[i] in "：－")
                return _full_width(number, line, ch_at)
        if re.search(r"[{\[｛［]", bare):
            for i, ch in enumerate(bare):
                if ch in "，｛｝［］":
                    return _full_width(number, line, i)
        m = _VALUE_CN_QUOTE.search(line)
        if m and m.group("key") not in _FREE_TEXT_KEYS:
            return _full_width(number, line, m.end() - 1)
        for i, ch in enumerate(bare):
            if ch in "｛｝［］＂＇" and not _free_text(bare[:i]):
                return _full_width(number, line, i)
    return None


def _full_width(number: int, line: str, index: int) -> Slip:
    ch = line[index]
    ascii_ch, label = FULL_WIDTH[ch]
    return Slip(
        number,
        index + 1,
        line,
        f"{label.split(' ', 1)[0]}“{ch}” — a {label.split(' ', 1)[1]} ({ch!r}, U+{ord(ch):04X}) "
        "where YAML needs the ASCII character; a Chinese input method types it "
        "(全角符号 full-width punctuation)",
        f"改为半角符号 “{ascii_ch}” — switch the input method to English (半角) and type "
        f"`{_ascii_line(line).strip()}`",
    )


def _line(lines: list[str], number: int) -> str:
    return lines[number - 1] if 0 < number <= len(lines) else ""


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def explain_yaml_error(path: object, text: str, exc: yaml.YAMLError) -> str:
    """A planner's message for a YAML error: the line, what is wrong there, the fix.

    Call :func:`find_slip` first: full-width punctuation and tabs are reported better by it.
    """
    lines = text.splitlines()
    problem = str(getattr(exc, "problem", "") or "")
    context = str(getattr(exc, "context", "") or "")
    pmark = getattr(exc, "problem_mark", None)
    cmark = getattr(exc, "context_mark", None)
    pline = pmark.line + 1 if pmark is not None else 0
    pcol = pmark.column + 1 if pmark is not None else 1
    cline = cmark.line + 1 if cmark is not None else 0
    ccol = cmark.column + 1 if cmark is not None else 1

    def slip(number: int, column: int, zh_en: str, fix: str) -> str:
        return Slip(number, column, _line(lines, number), zh_en, fix).message(path)

    if "could not find expected ':'" in problem and cline:
        line = _line(lines, cline)
        if re.match(r"^\s*(?:-\s+)?[A-Za-z_][\w.-]*:\S", line):
            return slip(
                cline,
                line.index(":") + 2,
                "冒号后缺少空格 — a key's colon must be followed by a space",
                f"在冒号后加一个空格 — write `{_ascii_line(line).strip()}`",
            )
        return slip(
            cline,
            ccol,
            "这一行缺少冒号 — this line has no `key: value` colon (or the line before it ends "
            "too early)",
            "写成 `键: 值`（冒号后加空格）— write `key: value`, with a space after the colon",
        )
    if "mapping values are not allowed" in problem and pline:
        line = _line(lines, pline)
        before = line[: pcol - 1]
        if re.match(r"^\s*[A-Za-z_][\w.-]*:\s+\S", before):
            key, _, value = line.partition(":")
            return slip(
                pline,
                pcol,
                "值里有“冒号+空格” — the value contains ': ', which YAML reads as a second key",
                f'给值加引号 — put the value in quotes: `{key}: "{value.strip()}"`',
            )
        return _indentation(path, lines, pline, pcol)
    if "expected <block end>" in problem or "did not find expected key" in problem:
        return _indentation(path, lines, pline or cline, pcol)
    if "flow mapping" in context or "flow sequence" in context:
        closing = "}" if "mapping" in context else "]"
        opening = "{" if closing == "}" else "["
        example = (
            "cluster: {path: cluster.shp, field: YDDM, scheme: gb50137}"
            if closing == "}"
            else "layer: [corridor, facility]"
        )
        return slip(
            cline,
            ccol,
            f"这一行的 {opening}…{closing} 没有闭合或缺少逗号 — the {opening}…{closing} opened "
            f"here is not closed, or its items are not separated by commas",
            f"检查括号与逗号 — close it with '{closing}' on the same line and separate the items "
            f"with ', ' (half-width), e.g. `{example}`",
        )
    if "quoted scalar" in context:
        return slip(
            cline,
            ccol,
            "引号没有闭合 — the quote opened here is not closed",
            "补上结束的引号 — close the quote on the same line",
        )
    if "found character" in problem and "cannot start any token" in problem and pline:
        ch = _line(lines, pline)[pcol - 1 : pcol] or "?"
        return slip(
            pline,
            pcol,
            f"不能以“{ch}”开头 — a value cannot start with {ch!r} here",
            f'给值加引号 — put the value in quotes, e.g. `key: "{ch}…"`',
        )
    number = pline or cline or 1
    return slip(
        number,
        pcol if pline else ccol,
        "这一行无法读取 — the pilot file cannot be read from here on",
        "检查这一行及上一行的冒号、空格、缩进和引号 — check the colons (with a space after "
        "each), the indentation and the quotes on this line and the one before",
    )


def _indentation(path: object, lines: list[str], number: int, column: int) -> str:
    line = _line(lines, number)
    previous = number - 1
    while previous > 0 and (
        not _line(lines, previous).strip() or _line(lines, previous).lstrip().startswith("#")
    ):
        previous -= 1
    prev_line = _line(lines, previous)
    want = _indent(prev_line)
    if prev_line.rstrip().endswith(":"):
        want += 2
    got = _indent(line)
    shown = _show(prev_line, previous, 1) + "\n" if previous else ""
    return (
        f"{path}: 第 {number} 行 line {number}: 缩进不对齐 — the indentation does not line "
        f"up: this line starts with {got} space(s), the line above with {_indent(prev_line)}; "
        "keys of one section must start in the same column\n"
        f"{shown.splitlines()[0] if shown else ''}\n{_show(line, number, max(got, 1))}\n"
        f"解决 Fix: 调整缩进 — indent line {number} by {want} spaces like its neighbours "
        f"(`{' ' * want}{line.strip()}`), or by fewer if it starts a new section"
    )


def find_duplicate_key(text: str) -> Slip | None:
    """A key written twice in one mapping (YAML keeps the last silently), or ``None``."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None
    lines = text.splitlines()
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, yaml.Node] = {}
            for key, value in node.value:
                name = str(key.value)
                if isinstance(key, yaml.ScalarNode) and name in seen:
                    first = seen[name].start_mark.line + 1
                    number = key.start_mark.line + 1
                    return Slip(
                        number,
                        key.start_mark.column + 1,
                        _line(lines, number),
                        f"键 '{name}' 重复（第 {first} 行已有）— the key '{name}' is written twice "
                        f"(also on line {first}); only the last one would count",
                        f"合并或删除其中一个 — keep one '{name}:' and put everything under it",
                    )
                seen[name] = key
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    return None


def line_of_key(text: str, key: str) -> int | None:
    """The 1-based line where a top-level ``key:`` is written, or ``None``."""
    pattern = re.compile(rf"^{re.escape(key)}\s*:")
    for number, line in enumerate(text.splitlines(), start=1):
        if pattern.match(line):
            return number
    return None
