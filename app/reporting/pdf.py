"""render_pdf(): the evidence report as PDF, from reports/templates/ through WeasyPrint.

WeasyPrint is given a URL fetcher that loads files under reports/ and refuses everything else,
so nothing in the inventory (a link, a name) can make the renderer read a local file or call
out to the network.
"""

from __future__ import annotations

import mimetypes
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from weasyprint import HTML
from weasyprint.urls import URLFetcher, URLFetcherResponse

from app.config import PROJECT_ROOT
from app.reporting.charts import SEVERITY_COLOURS, trend_svg
from app.reporting.context import STATUS_LABELS, AgentRow, ReportContext

REPORTS_ROOT = PROJECT_ROOT / "reports"
TEMPLATES_DIR = REPORTS_ROOT / "templates"


class ReportsOnlyFetcher(URLFetcher):
    """A WeasyPrint URL fetcher that serves files under one folder (reports/) and refuses any other URL."""

    def __init__(self, root: Path = REPORTS_ROOT):
        super().__init__(allowed_protocols=("file",), allow_redirects=False)
        self.root = root.resolve()
        self.refused: list[str] = []

    def resolve(self, url: str) -> Path | None:
        """The file a URL names, if it is a file: URL of an existing file under the root; else None."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file" or parts.netloc not in ("", "localhost"):
            return None
        # resolve() follows symbolic links, so a link under reports/ that points elsewhere is refused too.
        path = Path(url2pathname(unquote(parts.path))).resolve()
        if not path.is_relative_to(self.root) or not path.is_file():
            return None
        return path

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        path = self.resolve(url)
        if path is None:
            self.refused.append(url)
            raise ValueError(f"refused to load {url}: reports may only load files under {self.root}")
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(path.as_uri(), path.read_bytes(), {"Content-Type": content_type})


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _when(value: datetime | None) -> str:
    return "—" if value is None else _aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _day(value: datetime | None) -> str:
    return "—" if value is None else _aware(value).astimezone(UTC).strftime("%Y-%m-%d")


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f}%"


BREAK_AFTER = re.compile(r"([_./:@])")
ZERO_WIDTH_SPACE = "\u200b"


def _breakable(value) -> Markup:
    """Long ids and references, allowed to wrap after _ . / : @ (and -) instead of mid-word.

    A zero-width space rather than <wbr>: WeasyPrint breaks monospaced text mid-word around <wbr>,
    and draws no glyph for the space, so the id copies out of the PDF unchanged.
    """
    text = str(escape(value if value is not None else ""))
    return Markup(BREAK_AFTER.sub(lambda m: m.group(1) + ZERO_WIDTH_SPACE, text))


ANCHOR_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _anchor(value: str) -> str:
    """An id usable as an HTML anchor (requirement ids may hold spaces), for links and page references."""
    return ANCHOR_UNSAFE.sub("-", value)


def _label(status: str) -> str:
    return STATUS_LABELS.get(status, status.replace("_", " "))


def template_environment() -> Environment:
    """The Jinja environment of the print templates: only reports/templates/, escaping on."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(when=_when, day=_day, score=_score, label=_label, breakable=_breakable, anchor=_anchor)
    # executive is False unless render_html says otherwise, so every template sees the same names.
    env.globals.update(
        trend_svg=trend_svg,
        SEVERITY_COLOURS=SEVERITY_COLOURS,
        appendix_agents=appendix_agents,
        executive=False,
    )
    return env


# The PDF summarises; the workbook carries every row. Past these many agents Appendix A lists those
# with the most open findings (an executive report fewer), and says how many more the workbook has.
APPENDIX_AGENTS = 200
EXECUTIVE_APPENDIX_AGENTS = 25


def appendix_agents(context: ReportContext, executive: bool = False) -> tuple[AgentRow, ...]:
    """The agents Appendix A lists: all of them up to a limit, else as many with the most open findings."""
    limit = EXECUTIVE_APPENDIX_AGENTS if executive else APPENDIX_AGENTS
    if len(context.agents) <= limit:
        return context.agents
    chosen = sorted(context.agents, key=lambda a: (-a.open_findings, a.id))[:limit]
    return tuple(sorted(chosen, key=lambda a: a.id))


def render_html(context: ReportContext, *, executive: bool = False) -> str:
    """The report as print HTML: the full evidence, or (executive) a summary with a table per framework."""
    return template_environment().get_template("evidence.html").render(r=context, executive=executive)


class PrintTemplate(Protocol):
    """A template other than the built-in one (an uploaded custom template) that makes the print HTML."""

    def render_html(self, context: ReportContext) -> str: ...


def render_pdf(
    context: ReportContext,
    *,
    fetcher: ReportsOnlyFetcher | None = None,
    template: PrintTemplate | None = None,
    executive: bool = False,
) -> bytes:
    """The report as PDF bytes, from the built-in template (full or executive) or the one given."""
    html = render_html(context, executive=executive) if template is None else template.render_html(context)
    document = HTML(
        string=html,
        base_url=TEMPLATES_DIR.as_uri() + "/",
        url_fetcher=fetcher or ReportsOnlyFetcher(),
    )
    return document.write_pdf()
