"""Custom PDF templates: an admin's own Jinja/HTML (and CSS) for the evidence report, rendered in a sandbox.

A template is kept as files under <instance>/report-templates/<slug>/ (template.html, style.css,
meta.json), never in the database. It renders in an immutable sandboxed Jinja environment with
escaping on, strict undefined names and no loader beyond the built-in partials (_*.html of
reports/templates/), so it can neither read files nor reach Python internals nor change the
context the workbook is rendered from. Its loops, calls and output are bounded in time and size.
WeasyPrint loads its resources through the same reports-only fetcher as the built-in template.
A template is saved only after it compiles and renders against the latest evaluation; a broken
one is refused with its line number, and the built-in template stays the default.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from types import TracebackType

from jinja2 import FunctionLoader, StrictUndefined, TemplateSyntaxError, nodes, pass_context
from jinja2.defaults import DEFAULT_NAMESPACE
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import do_format, do_indent, do_replace
from jinja2.sandbox import MAX_RANGE, ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer
from markupsafe import escape
from sqlalchemy import event
from sqlmodel import Session

from app.audit import record_change
from app.catalog import Catalog
from app.reporting.context import ReportContext, ReportError, Scope, build_context
from app.reporting.pdf import TEMPLATES_DIR, ReportsOnlyFetcher, render_pdf, template_environment

FOLDER = "report-templates"
HTML_FILE = "template.html"
CSS_FILE = "style.css"
META_FILE = "meta.json"
BUILT_IN = "built-in"

MAX_NAME_LENGTH = 100
MAX_SLUG_LENGTH = 60
MAX_HTML_BYTES = 256 * 1024
MAX_CSS_BYTES = 128 * 1024
# Bounds on one render of the HTML: generous next to the built-in report, small next to a runaway loop.
RENDER_SECONDS = 20.0
MAX_OUTPUT_CHARS = 20_000_000
MAX_VALUE_LENGTH = 2_000_000
MAX_INT_BITS = 100_000
MAX_WIDTH = 10_000
# str methods whose output can grow far past their input; a print template has no use for them.
UNBOUNDED_STR_METHODS = frozenset({"translate", "maketrans", "expandtabs"})

SLUG_UNSAFE = re.compile(r"[^a-z0-9]+")
# A field width or precision of six or more digits, or one taken from the arguments (* or {}).
WIDE_FORMAT = re.compile(r"%[^a-zA-Z%]*(\d{6}|\*)|\{[^{}]*:[^{}]*(\d{6}|\{)")
PADDING_STR_METHODS = frozenset({"ljust", "rjust", "center", "zfill"})
WIDTH_FILTERS = frozenset({"center", "indent", "wordwrap"})


class TemplateError(ReportError):
    """A custom template cannot be saved or rendered as given; the message names the line and the problem."""

    def __init__(self, message: str, *, line: int | None = None, source_line: str | None = None):
        super().__init__(message)
        self.line = line
        self.source_line = source_line


class RenderLimitError(SecurityError):
    """A custom template ran past its time or size bound."""


@dataclass(frozen=True)
class CustomTemplate:
    """An uploaded print template: its Jinja/HTML, its CSS and who uploaded it when."""

    slug: str
    name: str
    html: str
    css: str
    uploaded_by: str
    uploaded_at: datetime

    @property
    def html_sha256(self) -> str:
        return hashlib.sha256(self.html.encode("utf-8")).hexdigest()

    @property
    def css_sha256(self) -> str:
        return hashlib.sha256(self.css.encode("utf-8")).hexdigest()

    def render_html(self, context: ReportContext) -> str:
        """The report as print HTML through this template (render_pdf calls this)."""
        return render_custom_html(self.html, self.css, context)


@dataclass(frozen=True)
class TemplateCheck:
    """What a template's check found: it compiled, and rendered against this run (if there was one)."""

    run_id: int | None
    pdf: bytes | None

    def describe(self) -> str:
        if self.run_id is None or self.pdf is None:
            return "compiles; there is no evaluation run yet to test-render it against"
        return f"compiles and renders against evaluation #{self.run_id} (a PDF of {len(self.pdf):,} bytes)"


# --- the sandbox ---------------------------------------------------------------------------------


def _checked(node: nodes.Expr, name: str, lineno: int) -> nodes.Filter:
    return nodes.Filter(node, name, [], [], None, None, lineno=lineno)


class _Bounds(NodeTransformer):
    """Routes an uploaded template's loops, concatenations and output through the sandbox's bounds."""

    def visit_For(self, node: nodes.For) -> nodes.For:
        self.generic_visit(node)
        node.iter = _checked(node.iter, "_steward_loop", node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Filter:
        self.generic_visit(node)
        return _checked(node, "_steward_sized", node.lineno)

    def visit_Output(self, node: nodes.Output) -> nodes.Output:
        # Every piece counts, constants too, wherever it goes: the page, or a macro's or {% set %}'s buffer.
        self.generic_visit(node)
        node.nodes = [_checked(child, "_steward_out", child.lineno) for child in node.nodes]
        return node


# The three bound filters take the context so that Jinja never folds them into constants at compile time.
@pass_context
def _loop_filter(context, iterable):
    environment = context.environment
    for item in iterable:
        environment.tick()
        yield item


@pass_context
def _sized_filter(context, value):
    return context.environment.sized(value)


@pass_context
def _out_filter(context, value):
    text = escape(value) if context.eval_ctx.autoescape else str(value)
    context.environment.produced(len(text))
    return text


class ReportSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with a deadline and size limits on everything an uploaded template does.

    The deadline is checked on every loop step, call and attribute access; strings and lists made by
    operators, calls, filters and concatenation are limited in length, widths and exponents in size,
    and all output together (page and buffers) in characters.
    """

    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, *, seconds: float = RENDER_SECONDS, **kwargs):
        super().__init__(**kwargs)
        self.seconds = seconds
        self.start_clock()

    def start_clock(self) -> None:
        self.deadline = time.monotonic() + self.seconds
        self.output_chars = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise RenderLimitError(f"the template ran longer than {self.seconds:g} seconds")

    def produced(self, chars: int) -> None:
        self.output_chars += chars
        if self.output_chars > MAX_OUTPUT_CHARS:
            raise RenderLimitError(f"the template's output passed {MAX_OUTPUT_CHARS:,} characters")

    def sized(self, value):
        if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE_LENGTH:
            raise RenderLimitError(f"a value of more than {MAX_VALUE_LENGTH:,} characters or items was made")
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise RenderLimitError(f"a number of more than {MAX_INT_BITS:,} bits was made")
        return value

    def is_safe_attribute(self, obj, attr, value) -> bool:
        if isinstance(obj, str) and attr in UNBOUNDED_STR_METHODS:
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj, attribute):
        self.tick()
        return super().getattr(obj, attribute)

    def getitem(self, obj, argument):
        self.tick()
        return super().getitem(obj, argument)

    def call(__self, __context, __obj, *args, **kwargs):
        __self.tick()
        if isinstance(getattr(__obj, "__self__", None), str):
            method = getattr(__obj, "__name__", "")
            if method in PADDING_STR_METHODS:
                _check_widths(args, kwargs)
            elif method == "replace":
                _check_replace(__obj.__self__, *args[:2])
        return __self.sized(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context, operator, left, right):
        integers = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and integers and max(left.bit_length(), 1) * right > MAX_INT_BITS:
            raise RenderLimitError(f"a power past {MAX_INT_BITS:,} bits is not allowed")
        if operator == "*":
            for sequence, count in ((left, right), (right, left)):
                repeated = isinstance(sequence, str | list | tuple) and isinstance(count, int)
                if repeated and len(sequence) * count > MAX_VALUE_LENGTH:
                    raise RenderLimitError(f"repetition past {MAX_VALUE_LENGTH:,} items is not allowed")
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        return self.sized(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value):
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            _check_format(value.__self__)
        return wrapper


def _check_format(text: str) -> None:
    if WIDE_FORMAT.search(text):
        raise RenderLimitError("format fields may not be six digits wide or take their width from arguments")


def _check_widths(args, kwargs) -> None:
    for argument in (*args, *kwargs.values()):
        if isinstance(argument, int) and not isinstance(argument, bool) and argument > MAX_WIDTH:
            raise RenderLimitError(f"numbers past {MAX_WIDTH:,} are not allowed as arguments (widths)")


def _check_replace(text, old="", new="") -> None:
    if isinstance(old, str) and isinstance(new, str):
        grown = len(text) + (text.count(old) if old else len(text) + 1) * max(len(new) - len(old), 0)
        if grown > MAX_VALUE_LENGTH:
            raise RenderLimitError(f"a replacement past {MAX_VALUE_LENGTH:,} characters is not allowed")


def _bounded_filter(name: str, function):
    """A built-in filter with its widths and its result bounded (it may run at compile time, too)."""

    @wraps(function)
    def bounded(*args, **kwargs):
        # A filter marked pass_context/pass_eval_context/pass_environment gets that first.
        start = 1 if getattr(function, "jinja_pass_arg", None) else 0
        value, arguments = args[start], args[start + 1 :]
        if name in WIDTH_FILTERS:
            _check_widths(arguments, kwargs)
        if function is do_format:
            _check_format(str(value))
        if function is do_replace:
            _check_replace(str(value), *arguments[:2])
        if function is do_indent and isinstance(value, str):
            width = arguments[0] if arguments else kwargs.get("width", 4)
            if isinstance(width, int) and width * (value.count("\n") + 1) > MAX_VALUE_LENGTH:
                raise RenderLimitError(f"indenting past {MAX_VALUE_LENGTH:,} characters is not allowed")
        result = function(*args, **kwargs)
        if isinstance(result, str | list | tuple) and len(result) > MAX_VALUE_LENGTH:
            raise RenderLimitError(f"a value of more than {MAX_VALUE_LENGTH:,} characters or items was made")
        return result

    return bounded


def _bounded_range(*args: int) -> range:
    if len(range(*args)) > MAX_RANGE:
        raise RenderLimitError(f"range() is limited to {MAX_RANGE:,} items")
    return range(*args)


def _built_in_partials() -> dict[str, str]:
    """The built-in partial templates (_*.html), the only ones an uploaded template may include."""
    return {path.name: path.read_text(encoding="utf-8") for path in sorted(TEMPLATES_DIR.glob("_*.html"))}


def _partials_loader() -> FunctionLoader:
    partials = _built_in_partials()

    def load(name: str):
        # Named by file name, so that an error inside a partial says which one.
        return (partials[name], name, lambda: True) if name in partials else None

    return FunctionLoader(load)


def sandbox_environment(*, seconds: float = RENDER_SECONDS) -> ReportSandbox:
    """A fresh sandbox for one render: escaping on, strict undefined names, the print filters and charts."""
    env = ReportSandbox(
        seconds=seconds,
        loader=_partials_loader(),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # The built-in template's own filters and globals (charts…), so an uploaded one can print like it.
    built_in = template_environment()
    env.filters = {name: _bounded_filter(name, function) for name, function in built_in.filters.items()}
    env.filters.update(
        _steward_loop=_loop_filter,
        _steward_sized=_sized_filter,
        _steward_out=_out_filter,
    )
    env.globals.update(
        {name: value for name, value in built_in.globals.items() if name not in DEFAULT_NAMESPACE}
    )
    env.globals.pop("lipsum", None)
    env.globals["range"] = _bounded_range
    return env


SOURCE_NAME = "template.html"


def _compile(env: ReportSandbox, html: str):
    """The uploaded source as a template of this sandbox; a syntax error names its line."""
    try:
        tree = env.parse(html, name=SOURCE_NAME, filename=SOURCE_NAME)
        tree = _Bounds().visit(tree)
        code = env.compile(tree, name=SOURCE_NAME, filename=SOURCE_NAME)
    except TemplateSyntaxError as exc:
        raise _located(html, exc.lineno, exc.message or str(exc)) from None
    return env.template_class.from_code(env, code, env.make_globals(None), None)


def _located(html: str, line: int | None, problem: str, where: str = "") -> TemplateError:
    source_line = None
    if line:
        lines = html.splitlines()
        if 0 < line <= len(lines):
            source_line = lines[line - 1].strip()[:160]
    prefix = f"{SOURCE_NAME} line {line}" if line else SOURCE_NAME
    message = f"{prefix}{where}: {problem}"
    if source_line:
        message += f" (at: {source_line})"
    return TemplateError(message, line=line, source_line=source_line)


def _template_frames(traceback: TracebackType | None) -> list[tuple[str, int]]:
    """The (template file, line) pairs of a render's traceback, outermost first."""
    frames = []
    partials = set(_built_in_partials())
    while traceback is not None:
        filename = traceback.tb_frame.f_code.co_filename
        if filename == SOURCE_NAME or Path(filename).name in partials:
            frames.append((Path(filename).name, traceback.tb_lineno))
        traceback = traceback.tb_next
    return frames


def _runtime_error(html: str, exc: Exception) -> TemplateError:
    frames = _template_frames(exc.__traceback__)
    own = [line for filename, line in frames if filename == SOURCE_NAME]
    line = own[-1] if own else None
    where = ""
    if frames and frames[-1][0] != SOURCE_NAME:
        where = f" (in the built-in {frames[-1][0]}, line {frames[-1][1]})"
    # Jinja's own messages read well alone ("'r' has no attribute 'x'"); others need their kind.
    problem = str(exc) if isinstance(exc, SecurityError | UndefinedError) else f"{type(exc).__name__}: {exc}"
    return _located(html, line, problem, where)


def render_custom_html(
    html: str, css: str, context: ReportContext, *, seconds: float = RENDER_SECONDS
) -> str:
    """An uploaded template rendered over a report context in the sandbox, with its CSS appended last."""
    env = sandbox_environment(seconds=seconds)
    template = _compile(env, html)
    env.start_clock()
    try:
        parts = [template.render(r=context)]
    except Exception as exc:
        raise _runtime_error(html, exc) from None
    if css:
        # Last in the document, so its rules win over report.css at equal specificity; "</" could end
        # the style element early, and "<\/" means the same in CSS.
        parts.append("\n<style>\n" + css.replace("</", "<\\/") + "\n</style>\n")
    return "".join(parts)


# --- storage -------------------------------------------------------------------------------------


def templates_root(settings) -> Path:
    """The folder of custom templates in the instance folder."""
    return Path(settings.instance_path) / FOLDER


def slug_for(name: str) -> str:
    """The folder name of a template: its name in lower case, runs of other characters as one hyphen."""
    return SLUG_UNSAFE.sub("-", name.lower()).strip("-")[:MAX_SLUG_LENGTH].strip("-")


def _check_name(name: str) -> tuple[str, str]:
    name = " ".join((name or "").split())
    if not name or len(name) > MAX_NAME_LENGTH:
        raise TemplateError(f"name: expected 1 to {MAX_NAME_LENGTH} characters")
    slug = slug_for(name)
    if not slug:
        raise TemplateError("name: expected at least one letter or digit")
    if slug in (BUILT_IN, "builtin"):
        raise TemplateError(f"name: “{name}” is the built-in template's; choose another")
    return name, slug


def decode_upload(data: bytes | str, *, field: str, limit: int) -> str:
    """Uploaded bytes as text: UTF-8 and within the size limit, or a TemplateError naming the field."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    if len(data) > limit:
        raise TemplateError(f"{field}: {len(data):,} bytes, over the limit of {limit:,}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{field}: not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        raise TemplateError(f"{field}: holds a NUL character; expected text")
    return text.replace("\r\n", "\n")


def _read(folder: Path) -> CustomTemplate | None:
    try:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        html = (folder / HTML_FILE).read_text(encoding="utf-8")
        css_path = folder / CSS_FILE
        css = css_path.read_text(encoding="utf-8") if css_path.is_file() else ""
        return CustomTemplate(
            slug=folder.name,
            name=str(meta["name"]),
            html=html,
            css=css,
            uploaded_by=str(meta["uploaded_by"]),
            uploaded_at=datetime.fromisoformat(meta["uploaded_at"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def list_templates(settings) -> list[CustomTemplate]:
    """The custom templates, by name (a folder that is not a complete template is left out)."""
    root = templates_root(settings)
    if not root.is_dir():
        return []
    found = []
    for folder in root.iterdir():
        if folder.name.startswith(".") or not folder.is_dir() or folder.is_symlink():
            continue
        template = _read(folder)
        if template is not None:
            found.append(template)
    return sorted(found, key=lambda t: t.name.lower())


def get_template(settings, name: str) -> CustomTemplate:
    """The custom template of this name or slug; a TemplateError lists the ones there are."""
    wanted = slug_for(name or "")
    for template in list_templates(settings):
        if template.slug == wanted:
            return template
    names = ", ".join(t.name for t in list_templates(settings)) or "none uploaded"
    raise TemplateError(f"template: no custom template “{name}” (there are: {names}; or {BUILT_IN})")


def resolve_template(settings, name: str | None) -> CustomTemplate | None:
    """The template a report is asked to use: None for the built-in (no name, or "built-in")."""
    if not name or not name.strip() or slug_for(name) in (BUILT_IN, "builtin"):
        return None
    return get_template(settings, name)


def check_template(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    html: str,
    css: str = "",
    now: datetime | None = None,
) -> TemplateCheck:
    """Compile a template and render it (HTML and PDF) against the latest evaluation; raise TemplateError."""
    from app.posture import latest_run

    if not html.strip():
        raise TemplateError("html: the template is empty")
    _compile(sandbox_environment(), html)
    run = latest_run(session)
    if run is None:
        return TemplateCheck(run_id=None, pdf=None)
    context = build_context(
        session, catalog=catalog, settings=settings, scope=Scope(), run=run, now=now or datetime.now(UTC)
    )
    fetcher = ReportsOnlyFetcher()
    draft = CustomTemplate("check", "check", html, css, "", datetime.now(UTC))
    try:
        pdf = render_pdf(context, fetcher=fetcher, template=draft)
    except TemplateError:
        raise
    except Exception as exc:
        # WeasyPrint forgives almost any HTML and CSS; what it cannot lay out is still the template's doing.
        problem = f"{type(exc).__name__}: {exc}"
        raise TemplateError(f"{SOURCE_NAME}: the PDF could not be made: {problem}") from None
    if fetcher.refused:
        refused = ", ".join(dict.fromkeys(fetcher.refused))
        raise TemplateError(
            f"{SOURCE_NAME}: loads {refused}; a report may load only files under reports/ "
            "(link the built-in report.css, or put the CSS in the template's stylesheet)"
        )
    return TemplateCheck(run_id=run.id, pdf=pdf)


def _write(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def save_template(
    session: Session,
    *,
    catalog: Catalog,
    settings,
    name: str,
    html: str,
    css: str = "",
    actor: str,
    now: datetime | None = None,
) -> CustomTemplate:
    """Check a template and keep it (replacing one of the same name) once the caller commits; audit it."""
    name, slug = _check_name(name)
    html = decode_upload(html, field="html", limit=MAX_HTML_BYTES)
    css = decode_upload(css or "", field="css", limit=MAX_CSS_BYTES)
    now = now or datetime.now(UTC)
    check = check_template(session, catalog=catalog, settings=settings, html=html, css=css, now=now)
    template = CustomTemplate(slug, name, html, css, actor, now)
    root = templates_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    staged = root / f".staged-{slug}-{secrets.token_hex(4)}"
    staged.mkdir()
    try:
        _write(staged / HTML_FILE, html)
        _write(staged / CSS_FILE, css)
        meta = {"name": name, "uploaded_by": actor, "uploaded_at": now.isoformat()}
        _write(staged / META_FILE, json.dumps(meta, indent=2))
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise
    previous = _read(root / slug) if (root / slug).is_dir() else None
    record_change(
        session,
        actor=actor,
        action="report_template.replace" if previous else "report_template.upload",
        target=f"report template {slug}",
        detail={
            "name": name,
            "html_sha256": template.html_sha256,
            "css_sha256": template.css_sha256,
            "html_bytes": len(html.encode("utf-8")),
            "css_bytes": len(css.encode("utf-8")),
            "checked_against_run": check.run_id,
            **({"previous_html_sha256": previous.html_sha256} if previous else {}),
        },
        at=now,
    )
    session.flush()
    _after_commit(
        session, on_commit=lambda: _swap_in(root, slug, staged), on_rollback=lambda: _remove(staged)
    )
    return template


def delete_template(session: Session, *, settings, name: str, actor: str) -> CustomTemplate:
    """Remove a custom template once the caller commits, and say so in the audit trail."""
    template = get_template(settings, name)
    record_change(
        session,
        actor=actor,
        action="report_template.delete",
        target=f"report template {template.slug}",
        detail={
            "name": template.name,
            "html_sha256": template.html_sha256,
            "css_sha256": template.css_sha256,
        },
    )
    session.flush()
    root = templates_root(settings)
    _after_commit(session, on_commit=lambda: _retire(root, template.slug), on_rollback=lambda: None)
    return template


def _swap_in(root: Path, slug: str, staged: Path) -> None:
    _retire(root, slug)
    os.replace(staged, root / slug)


def _retire(root: Path, slug: str) -> None:
    current = root / slug
    if current.is_dir():
        retired = root / f".retired-{slug}-{secrets.token_hex(4)}"
        os.replace(current, retired)
        _remove(retired)


def _remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _after_commit(session: Session, *, on_commit, on_rollback) -> None:
    # The files change only once the audit entry is committed; a rollback leaves them as they were.
    state = {"rolled_back": False}

    def committed(_session) -> None:
        if not state["rolled_back"]:
            on_commit()

    def rolled_back(_session) -> None:
        if not state["rolled_back"]:
            state["rolled_back"] = True
            on_rollback()

    event.listen(session, "after_commit", committed, once=True)
    event.listen(session, "after_rollback", rolled_back, once=True)
