"""A report as a PNG chart: received and closed cases by department, and the rates against
their targets (K3). Chinese labels need a CJK font: the project's setup installs one (Makefile `cjk-font`,
Debian's fonts-wqy-microhei); `cjk_font()` finds it, or any of the usual CJK families."""

import io
from functools import cache
from pathlib import Path
from typing import Any

CJK_FONT_FILES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)
CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "WenQuanYi Zen Hei", "Source Han Sans SC", "SimHei")

RATES = (("handling_rate", "处理率"), ("satisfaction_rate", "满意率"), ("timeliness_rate", "零修及时率"),
         ("pass_rate", "合格率"), ("punctuality_rate", "预约守时率"), ("revisit_rate", "维修回访率"),
         ("households_revisited_rate", "年度回访覆盖率"))


@cache
def cjk_font() -> str | None:
    """The family name of a CJK font matplotlib can use (registered from its file if need be), or None."""
    from matplotlib import font_manager
    for path in CJK_FONT_FILES:
        if Path(path).exists():
            font_manager.fontManager.addfont(path)
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FAMILIES if name in names), None)


def to_png(report: dict[str, Any]) -> bytes:
    """Left: received and closed by department; right: each rate the report has, against its target."""
    import matplotlib
    matplotlib.use("Agg")  # no display: render to a file
    from matplotlib.figure import Figure

    font = cjk_font()
    rc = {"font.family": [font, "sans-serif"] if font else ["sans-serif"], "axes.unicode_minus": False}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(12, 5), dpi=100)
        left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
        departments = report.get("by_department", [])
        names = [d["name"] for d in departments] or ["（无）"]
        xs = range(len(names))
        left.bar([x - 0.2 for x in xs], [d["received"] for d in departments] or [0], width=0.4, label="受理数")
        left.bar([x + 0.2 for x in xs], [d["closed"] for d in departments] or [0], width=0.4, label="结案数")
        left.set_xticks(list(xs), names)
        left.set_title("按责任部门")
        left.set_ylabel("案件数")
        left.legend()
        summary, targets = report.get("summary", {}), report.get("targets", {})
        rates = [(label, summary[key], targets.get(key)) for key, label in RATES if summary.get(key) is not None]
        ys = range(len(rates))
        right.barh(list(ys), [v * 100 for _, v, _ in rates], color="#4472C4")
        for y, (_, value, target) in zip(ys, rates):
            right.text(value * 100 + 1, y, f"{value:.1%}", va="center")
            if target is not None:
                right.plot([target * 100] * 2, [y - 0.4, y + 0.4], color="#C00000", linewidth=2)
        right.set_yticks(list(ys), [label for label, _, _ in rates])
        right.set_xlim(0, 115)
        right.set_xlabel("%（红线：目标）")
        right.set_title("各项比率与目标")
        fig.suptitle(f"{report.get('title', '')} {report.get('period', '')}（生成于 {report.get('generated_at_local', '')}）")
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
    return out.getvalue()
