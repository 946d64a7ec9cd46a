"""A streaming XLSX writer: SpreadsheetML written straight into the zip, a row at a time.

openpyxl builds an object per cell and an XML element per object: about 7 µs a cell here, so
the evidence workbook's 10 million cells at scale L took 150-300 s whatever Steward did around
it. This writer keeps to what the evidence workbook uses (text, numbers, booleans, UTC dates,
a few cell styles, column widths, a frozen header and an autofilter per sheet) and spends
about half a microsecond a cell:

- short text goes into the shared-string table, so a check id or a team repeated a hundred
  thousand times is written once; long text (a column marked ``inline``) is written in the cell;
- each sheet is compressed into the archive as it is written, by a second thread: zlib and the
  file writes release the GIL, so the compression runs on the second core;
- no cell is ever a formula. Text that a spreadsheet would take for one when edited (=, +, -,
  @, a tab or a carriage return first) gets Excel's quote prefix, as a typed ``'`` would;
- characters XML 1.0 cannot carry (control characters other than tab, newline, carriage
  return; lone surrogates) are dropped, as openpyxl drops them.

openpyxl stays what reads the workbook back in the tests: every file this writes is opened by it.
"""

from __future__ import annotations

import contextlib
import math
import queue
import re
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import IO

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_START = frozenset(FORMULA_PREFIXES)  # the same, for a test of one character
# XML 1.0 has no place for these: the control characters other than tab, newline and carriage return.
ILLEGAL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
EXCEL_EPOCH = datetime(1899, 12, 30)
DATE_FORMAT = "yyyy-mm-dd hh:mm"  # the one number format the workbook defines
DATE_FORMAT_ID = 164  # the first number format id a workbook may define for itself
CHUNK_CHARS = 1 << 20  # rows are encoded and handed to the compressor about a megabyte at a time
MAX_ROWS, MAX_COLUMNS, MAX_CELL_CHARS = 1_048_576, 16_384, 32_767  # Excel's limits
MAX_MEMBER_BYTES = zipfile.ZIP64_LIMIT  # 2 GiB: past it a zip member needs Zip64, which Excel refuses
FIRST_SERIAL_DATE = 61  # 1900-03-01: Excel's serial days before it count a 29 February 1900 that never was

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
SHEET_NAME_BAD = re.compile(r"[\[\]:*?/\\]")  # what Excel allows in no sheet name
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


@dataclass(frozen=True)
class Style:
    """A cell style: font, solid fill, number format, vertical alignment and Excel's quote prefix."""

    bold: bool = False
    italic: bool = False
    color: str | None = None  # font colour, RRGGBB
    fill: str | None = None  # solid fill colour, RRGGBB
    number_format: str | None = None  # only DATE_FORMAT: the one format the workbook defines
    vertical: str | None = None
    quote_prefix: bool = False


def column_letter(index: int) -> str:
    """The letters of the 1-based column index: 1 → A, 27 → AA."""
    letters = ""
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def escape(text: str) -> str:
    """Text as XML character data: illegal characters dropped, &, < and > escaped."""
    if not text.isprintable():
        text = ILLEGAL_CHARACTERS.sub("", text)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def _attribute(text: str) -> str:
    return escape(text).replace('"', "&quot;")


def clipped(text: str) -> str:
    """Text that fits in a cell: Excel refuses a workbook with a cell of more than 32,767 characters."""
    if len(text) <= MAX_CELL_CHARS:
        return text
    note = f" … [cut here: {len(text):,} characters in all]"
    return text[: MAX_CELL_CHARS - len(note)] + note


def _text_element(text: str) -> str:
    """A <t> element of text clipped to a cell's limit; leading or trailing spaces and line breaks kept."""
    body = escape(clipped(text))
    if body != body.strip():
        return f'<t xml:space="preserve">{body}</t>'
    return f"<t>{body}</t>"


def serial(value: datetime | date) -> float:
    """A date as Excel's serial day number (1900 date system); a zoned datetime is converted to UTC."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
    else:
        value = datetime.combine(value, time())
    delta = value - EXCEL_EPOCH
    return delta.days + (delta.seconds + delta.microseconds / 1_000_000) / 86_400


class _Compressor(threading.Thread):
    """Writes encoded chunks into one archive member on its own thread, so compression overlaps the rows."""

    def __init__(self, archive: zipfile.ZipFile, name: str):
        super().__init__(name=f"xlsx {name}", daemon=True)
        # No Zip64 header: Excel refuses a workbook whose members carry one they do not need.
        self._member = archive.open(name, "w")
        self._name = name
        self.written = 0  # bytes of XML handed over so far
        self._chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            while (chunk := self._chunks.get()) is not None:
                if self.error is None:
                    self._member.write(chunk)
        except BaseException as error:  # handed to the writer's thread by close()
            self.error = error
            while self._chunks.get() is not None:
                pass
        finally:
            try:
                self._member.close()
            except BaseException as error:
                self.error = self.error or error

    def write(self, chunk: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.written += len(chunk)
        if self.written > MAX_MEMBER_BYTES:
            raise ValueError(
                f"{self._name}: more than {MAX_MEMBER_BYTES // 2**20:,} MB of XML, more than a workbook "
                "member holds without Zip64 (which Excel refuses); the sheet's text is too long to export"
            )
        self._chunks.put(chunk)

    def close(self) -> None:
        self._chunks.put(None)
        self.join()
        if self.error is not None:
            raise self.error


class _Closing:
    """A with block closes what it opened; leaving it on an error aborts instead, keeping that error."""

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.close()
        else:
            self.abort()

    def close(self) -> None:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError


class Sheet(_Closing):
    """One worksheet being written. Rows go in order with append(); close() (or the with block) ends it."""

    def __init__(
        self,
        book: XlsxWriter,
        title: str,
        path: str,
        widths: Sequence[float],
        freeze_rows: int,
        inline: Sequence[bool],
    ):
        self.title = title
        self.rows = 0
        self._book = book
        self._autofilter: str | None = None
        self._letters = [column_letter(i) for i in range(1, max(len(widths), len(inline)) + 1)]
        self._inline = list(inline) + [False] * (len(self._letters) - len(inline))
        self._parts: list[str] = []
        self._size = 0
        self._compressor = _Compressor(book.archive, path)
        head = [XML_DECLARATION, f'<worksheet xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">']
        view = '<sheetView workbookViewId="0"' + (' tabSelected="1"' if not book.sheets else "") + ">"
        if freeze_rows:
            top = f"A{freeze_rows + 1}"
            view += (
                f'<pane ySplit="{freeze_rows}" topLeftCell="{top}" activePane="bottomLeft" state="frozen"/>'
                f'<selection pane="bottomLeft" activeCell="{top}" sqref="{top}"/>'
            )
        head.append(f"<sheetViews>{view}</sheetView></sheetViews>")
        head.append('<sheetFormatPr defaultRowHeight="15"/>')
        if widths:
            head.append("<cols>")
            head += [
                f'<col min="{i}" max="{i}" width="{width:g}" customWidth="1"/>'
                for i, width in enumerate(widths, start=1)
            ]
            head.append("</cols>")
        head.append("<sheetData>")
        self._parts.append("".join(head))

    def abort(self) -> None:
        """Stop writing this sheet: the compressor thread ends; the sheet is left incomplete."""
        compressor, self._compressor = self._compressor, None
        if compressor is not None:
            with contextlib.suppress(Exception):  # the error being handled is the one to report
                compressor.close()

    def autofilter(self, first_row: int, last_row: int, columns: int) -> None:
        """An autofilter over the columns of rows first_row (the header) to last_row."""
        self._autofilter = f"A{first_row}:{column_letter(columns)}{last_row}"

    def append(self, values: Sequence, styles: Sequence[int | None] | None = None) -> None:
        """One row. styles, if given, holds a style id (from XlsxWriter.style) or None for each value."""
        n = self.rows = self.rows + 1
        if n > MAX_ROWS:
            raise ValueError(f"sheet {self.title!r}: more than {MAX_ROWS:,} rows, Excel's limit")
        if len(values) > len(self._letters):
            self._widen(len(values))
        row = str(n)
        parts = [f'<row r="{row}">']
        add = parts.append
        if styles is not None:
            cell = self._cell
            styles = list(styles) + [None] * (len(values) - len(styles))
            # The values decide the row's length: the letters and flags may run on, never short.
            columns = zip(values, self._letters, self._inline, styles, strict=False)
            for value, letter, inline, style in columns:
                if value is not None:
                    add(cell(letter, row, value, style, inline))
        else:
            # The common case, spelt out: a million rows of plain values, about half a microsecond a cell.
            strings = self._book.strings
            for value, letter, inline in zip(values, self._letters, self._inline, strict=False):
                kind = type(value)
                if kind is str:
                    if not value:  # as openpyxl writes it: an empty cell, read back as None
                        continue
                    if inline or value[0] in FORMULA_START:
                        add(self._cell(letter, row, value, None, inline))
                        continue
                    index = strings.get(value)
                    if index is None:
                        index = strings[value] = len(strings)
                    add(f'<c r="{letter}{row}" t="s"><v>{index}</v></c>')
                elif value is None:
                    continue
                elif kind is int:
                    add(f'<c r="{letter}{row}"><v>{value}</v></c>')
                elif kind is bool:
                    add(f'<c r="{letter}{row}" t="b"><v>{"1" if value else "0"}</v></c>')
                else:
                    add(self._cell(letter, row, value, None, inline))
        add("</row>")
        text = "".join(parts)
        self._parts.append(text)
        self._size += len(text)
        if self._size >= CHUNK_CHARS:
            self._flush()

    def _widen(self, columns: int) -> None:
        if columns > MAX_COLUMNS:
            raise ValueError(f"sheet {self.title!r}: more than {MAX_COLUMNS:,} columns, Excel's limit")
        self._letters += [column_letter(i) for i in range(len(self._letters) + 1, columns + 1)]
        self._inline += [False] * (columns - len(self._inline))

    def _cell(self, letter: str, row: str, value, style: int | None, inline: bool) -> str:
        """Any value's cell, styled or not (append() spells out the common plain ones itself)."""
        book = self._book
        kind = type(value)
        if isinstance(value, str):
            value = str(value) if kind is not str else value  # a StrEnum's value
            if not value:
                return ""
            if value.startswith(FORMULA_PREFIXES):
                style = book.quoted(style)
            s = "" if style is None else f' s="{style}"'
            if inline:
                return f'<c r="{letter}{row}"{s} t="inlineStr"><is>{_text_element(value)}</is></c>'
            index = book.strings.get(value)
            if index is None:
                index = book.strings[value] = len(book.strings)
            return f'<c r="{letter}{row}"{s} t="s"><v>{index}</v></c>'
        if isinstance(value, date):  # datetime too
            number = serial(value)
            if number < FIRST_SERIAL_DATE:  # as text, rather than a day Excel would show wrong
                text = value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
                return self._cell(letter, row, text, style, inline)
            return f'<c r="{letter}{row}" s="{book.dated(style)}"><v>{number!r}</v></c>'
        s = "" if style is None else f' s="{style}"'
        if kind is bool:
            return f'<c r="{letter}{row}"{s} t="b"><v>{"1" if value else "0"}</v></c>'
        if isinstance(value, int):  # an IntEnum, say: its number, not its repr
            return f'<c r="{letter}{row}"{s}><v>{int(value)}</v></c>'
        if isinstance(value, float | Decimal) and math.isfinite(value):
            return f'<c r="{letter}{row}"{s}><v>{float(value)!r}</v></c>'
        return self._cell(letter, row, str(value), style, inline)  # NaN, a UUID, ...

    def _flush(self) -> None:
        if self._parts:
            self._compressor.write("".join(self._parts).encode("utf-8", "replace"))
            self._parts, self._size = [], 0

    def close(self) -> None:
        if self._compressor is None:
            return
        tail = "</sheetData>"
        if self._autofilter:
            tail += f'<autoFilter ref="{self._autofilter}"/>'
        tail += (
            '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/></worksheet>'
        )
        self._parts.append(tail)
        try:
            self._flush()
        finally:
            compressor, self._compressor = self._compressor, None
            compressor.close()  # raises what failed on the compressor's thread, if anything did


class XlsxWriter(_Closing):
    """An XLSX workbook written to a binary file: add sheets in order, then close()."""

    def __init__(self, file: IO[bytes], *, created: datetime | None = None, compresslevel: int = 6):
        self.archive = zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        self.sheets: list[Sheet] = []
        self.strings: dict[str, int] = {}
        self.created = created
        self._styles: dict[Style, int] = {Style(): 0}
        self._by_id: list[Style] = [Style()]
        self._variants: dict[tuple[str, int | None], int] = {}
        self._open: Sheet | None = None

    def style(self, style: Style) -> int:
        """The id of a cell style, to pass in append()'s styles."""
        if style.number_format not in (None, DATE_FORMAT):
            raise ValueError(f"number format {style.number_format!r}: only {DATE_FORMAT!r} is defined")
        id = self._styles.get(style)
        if id is None:
            id = self._styles[style] = len(self._by_id)
            self._by_id.append(style)
        return id

    def _variant(self, id: int | None, field: str, value) -> int:
        key = (field, id)
        variant = self._variants.get(key)
        if variant is None:
            base = self._by_id[id or 0]
            variant = self._variants[key] = self.style(replace(base, **{field: value}))
        return variant

    def quoted(self, id: int | None) -> int:
        """The style id with Excel's quote prefix added."""
        return self._variant(id, "quote_prefix", True)

    def dated(self, id: int | None) -> int:
        """The style id with the workbook's date format."""
        return self._variant(id, "number_format", DATE_FORMAT)

    def sheet(
        self,
        title: str,
        *,
        widths: Sequence[float] = (),
        freeze_rows: int = 0,
        inline: Sequence[bool] = (),
    ) -> Sheet:
        """A new sheet: column widths (characters), rows frozen at the top, which columns hold long text."""
        if self._open is not None:
            self._open.close()
        if len(title) > 31 or not title or SHEET_NAME_BAD.search(title):
            raise ValueError(f"sheet name {title!r}: 1-31 characters, none of []:*?/\\")
        if any(s.title.lower() == title.lower() for s in self.sheets):
            raise ValueError(f"sheet name {title!r} is taken")
        sheet = Sheet(
            self, title, f"xl/worksheets/sheet{len(self.sheets) + 1}.xml", widths, freeze_rows, inline
        )
        self.sheets.append(sheet)
        self._open = sheet
        return sheet

    def abort(self) -> None:
        """Stop writing: the compressor thread ends; the file is left incomplete."""
        if self._open is not None:
            self._open.abort()
            self._open = None
        with contextlib.suppress(Exception):  # the error being handled is the one to report
            self.archive.close()

    def close(self) -> None:
        if self._open is not None:
            self._open.close()
            self._open = None
        write = self.archive.writestr
        write("[Content_Types].xml", self._content_types())
        write("_rels/.rels", self._package_rels())
        write("docProps/core.xml", self._core())
        write("docProps/app.xml", self._app())
        write("xl/workbook.xml", self._workbook())
        write("xl/_rels/workbook.xml.rels", self._workbook_rels())
        write("xl/styles.xml", self._stylesheet())
        self._shared_strings()
        self.archive.close()

    def _content_types(self) -> str:
        main = "application/vnd.openxmlformats-officedocument.spreadsheetml"
        overrides = [
            ("/xl/workbook.xml", f"{main}.sheet.main+xml"),
            ("/xl/styles.xml", f"{main}.styles+xml"),
            ("/xl/sharedStrings.xml", f"{main}.sharedStrings+xml"),
            ("/docProps/core.xml", "application/vnd.openxmlformats-package.core-properties+xml"),
            ("/docProps/app.xml", "application/vnd.openxmlformats-officedocument.extended-properties+xml"),
        ]
        overrides += [
            (f"/xl/worksheets/sheet{i}.xml", f"{main}.worksheet+xml") for i in range(1, len(self.sheets) + 1)
        ]
        return (
            XML_DECLARATION
            + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            + '<Default Extension="rels" '
            + 'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            + '<Default Extension="xml" ContentType="application/xml"/>'
            + "".join(f'<Override PartName="{p}" ContentType="{t}"/>' for p, t in overrides)
            + "</Types>"
        )

    def _package_rels(self) -> str:
        return (
            XML_DECLARATION
            + f'<Relationships xmlns="{PACKAGE_REL_NS}">'
            + f'<Relationship Id="rId1" Type="{REL_NS}/officeDocument" Target="xl/workbook.xml"/>'
            + f'<Relationship Id="rId2" Type="{PACKAGE_REL_NS}/metadata/core-properties" '
            + 'Target="docProps/core.xml"/>'
            + f'<Relationship Id="rId3" Type="{REL_NS}/extended-properties" Target="docProps/app.xml"/>'
            + "</Relationships>"
        )

    def _core(self) -> str:
        created = (self.created or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return (
            XML_DECLARATION
            + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/'
            + 'core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/'
            + 'dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
            + "<dc:creator>Steward</dc:creator>"
            + f'<dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created>'
            + f'<dcterms:modified xsi:type="dcterms:W3CDTF">{created}</dcterms:modified>'
            + "</cp:coreProperties>"
        )

    def _app(self) -> str:
        return (
            XML_DECLARATION
            + '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties">'
            + "<Application>Steward</Application></Properties>"
        )

    def _workbook(self) -> str:
        sheets = "".join(
            f'<sheet name="{_attribute(s.title)}" sheetId="{i}" r:id="rId{i}"/>'
            for i, s in enumerate(self.sheets, start=1)
        )
        # Excel keeps each sheet's filter range in a hidden name as well; it is written as Excel writes it.
        names = "".join(
            f'<definedName name="_xlnm._FilterDatabase" localSheetId="{i}" hidden="1">'
            f"{_attribute(_quoted_sheet(s.title))}!{_absolute(s._autofilter)}</definedName>"
            for i, s in enumerate(self.sheets)
            if s._autofilter
        )
        return (
            XML_DECLARATION
            + f'<workbook xmlns="{MAIN_NS}" xmlns:r="{REL_NS}">'
            + '<workbookPr/><bookViews><workbookView activeTab="0"/></bookViews>'
            + f"<sheets>{sheets}</sheets>"
            + (f"<definedNames>{names}</definedNames>" if names else "")
            + "</workbook>"
        )

    def _workbook_rels(self) -> str:
        rels = [
            f'<Relationship Id="rId{i}" Type="{REL_NS}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, len(self.sheets) + 1)
        ]
        n = len(self.sheets)
        rels.append(f'<Relationship Id="rId{n + 1}" Type="{REL_NS}/styles" Target="styles.xml"/>')
        rels.append(
            f'<Relationship Id="rId{n + 2}" Type="{REL_NS}/sharedStrings" Target="sharedStrings.xml"/>'
        )
        return (
            XML_DECLARATION + f'<Relationships xmlns="{PACKAGE_REL_NS}">' + "".join(rels) + "</Relationships>"
        )

    def _stylesheet(self) -> str:
        fonts: dict[tuple, int] = {(False, False, None): 0}
        fills: dict[str | None, int] = {None: 0, "gray125": 1}
        xfs = []
        for style in self._by_id:
            font = fonts.setdefault((style.bold, style.italic, style.color), len(fonts))
            fill = fills.setdefault(style.fill, len(fills)) if style.fill else 0
            number = DATE_FORMAT_ID if style.number_format else 0
            attributes = f'numFmtId="{number}" fontId="{font}" fillId="{fill}" borderId="0" xfId="0"'
            if style.quote_prefix:
                attributes += ' quotePrefix="1"'
            if number:
                attributes += ' applyNumberFormat="1"'
            if font:
                attributes += ' applyFont="1"'
            if fill:
                attributes += ' applyFill="1"'
            if style.vertical:
                xfs.append(
                    f'<xf {attributes} applyAlignment="1"><alignment vertical="{style.vertical}"/></xf>'
                )
            else:
                xfs.append(f"<xf {attributes}/>")
        font_xml = []
        for bold, italic, color in fonts:
            font_xml.append(
                "<font>"
                + ("<b/>" if bold else "")
                + ("<i/>" if italic else "")
                + '<sz val="11"/>'
                + (f'<color rgb="FF{color}"/>' if color else "")
                + '<name val="Calibri"/><family val="2"/></font>'
            )
        fill_xml = [
            '<fill><patternFill patternType="none"/></fill>',
            '<fill><patternFill patternType="gray125"/></fill>',
        ]
        fill_xml += [
            f'<fill><patternFill patternType="solid"><fgColor rgb="FF{colour}"/><bgColor indexed="64"/>'
            "</patternFill></fill>"
            for colour in list(fills)[2:]
        ]
        return (
            XML_DECLARATION
            + f'<styleSheet xmlns="{MAIN_NS}">'
            + f'<numFmts count="1"><numFmt numFmtId="{DATE_FORMAT_ID}" '
            + f'formatCode="{_attribute(DATE_FORMAT)}"/></numFmts>'
            + f'<fonts count="{len(font_xml)}">{"".join(font_xml)}</fonts>'
            + f'<fills count="{len(fill_xml)}">{"".join(fill_xml)}</fills>'
            + '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
            + '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
            + f'<cellXfs count="{len(xfs)}">{"".join(xfs)}</cellXfs>'
            + '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
            + "</styleSheet>"
        )

    def _shared_strings(self) -> None:
        with self.archive.open("xl/sharedStrings.xml", "w") as member:
            count = len(self.strings)
            member.write(
                (XML_DECLARATION + f'<sst xmlns="{MAIN_NS}" count="{count}" uniqueCount="{count}">').encode()
            )
            parts: list[str] = []
            for text in self.strings:  # in insertion order: the order of the ids
                parts.append(f"<si>{_text_element(text)}</si>")
                if len(parts) >= 10_000:
                    member.write("".join(parts).encode("utf-8", "replace"))
                    parts = []
            parts.append("</sst>")
            member.write("".join(parts).encode("utf-8", "replace"))


def _quoted_sheet(title: str) -> str:
    return "'" + title.replace("'", "''") + "'"


def _absolute(ref: str) -> str:
    first, last = ref.split(":")
    return ":".join(re.sub(r"([A-Z]+)(\d+)", r"$\1$\2", part) for part in (first, last))
