"""Charts drawn as SVG on the server, so the dashboard and the PDF reports show the same picture."""

from __future__ import annotations

from html import escape

from markupsafe import Markup

SEVERITY_COLOURS = {"critical": "#8b1a1a", "high": "#d9480f", "medium": "#e8a317", "low": "#5c7cfa"}


def trend_svg(
    points: list[tuple[str, float | None]], *, width: int = 320, height: int = 90, title: str = "Score trend"
) -> Markup:
    """A line of scores (0–100) over runs, oldest first; runs with no score leave a gap."""
    pad_left, pad_right, pad_top, pad_bottom = 28, 8, 8, 18
    inner_w, inner_h = width - pad_left - pad_right, height - pad_top - pad_bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart trend" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for value in (0, 50, 100):
        y = pad_top + inner_h * (1 - value / 100)
        parts.append(
            f'<line x1="{pad_left}" y1="{y:.1f}" x2="{width - pad_right}" y2="{y:.1f}" stroke="#dee2e6" '
            'stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{pad_left - 4}" y="{y + 3:.1f}" font-size="9" text-anchor="end" '
            f'fill="#6c757d">{value}</text>'
        )
    if not points:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" font-size="10" text-anchor="middle" '
            'fill="#6c757d">no runs yet</text></svg>'
        )
        return Markup("".join(parts))
    step = inner_w / max(len(points) - 1, 1)
    segment: list[str] = []
    segments: list[list[str]] = []
    dots = []
    for i, (label, value) in enumerate(points):
        x = pad_left + (i * step if len(points) > 1 else inner_w / 2)
        if value is None:
            if segment:
                segments.append(segment)
            segment = []
            continue
        y = pad_top + inner_h * (1 - value / 100)
        segment.append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="#1c7ed6"><title>{escape(label)}: '
            f"{value:.1f}%</title></circle>"
        )
    if segment:
        segments.append(segment)
    for seg in segments:
        if len(seg) > 1:
            parts.append(
                f'<polyline points="{" ".join(seg)}" fill="none" stroke="#1c7ed6" stroke-width="2"/>'
            )
    parts.extend(dots)
    parts.append(
        f'<text x="{pad_left}" y="{height - 4}" font-size="9" fill="#6c757d">{escape(points[0][0])}</text>'
    )
    parts.append(
        f'<text x="{width - pad_right}" y="{height - 4}" font-size="9" text-anchor="end" '
        f'fill="#6c757d">{escape(points[-1][0])}</text>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def bar_svg(
    value: float, total: float, colour: str = "#1c7ed6", *, width: int = 120, height: int = 10
) -> Markup:
    """A small horizontal bar showing value out of total."""
    share = 0 if not total else max(0.0, min(1.0, value / total))
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-hidden="true">'
        f'<rect width="{width}" height="{height}" rx="2" fill="#e9ecef"/>'
        f'<rect width="{width * share:.1f}" height="{height}" rx="2" fill="{colour}"/></svg>'
    )
