"""The streaming XLSX writer: what it writes reads back in openpyxl as written, styled, never a formula."""

from __future__ import annotations

import enum
import io
import struct
import zipfile
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook

import app.reporting.xlsx as xlsx
from app.reporting.xlsx import DATE_FORMAT, Style, XlsxWriter, column_letter, serial


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


def written(build, **options) -> bytes:
    buffer = io.BytesIO()
    with XlsxWriter(buffer, **options) as book:
        build(book)
    return buffer.getvalue()


def opened(data: bytes):
    return load_workbook(io.BytesIO(data))


def test_values_read_back_as_the_types_they_were():
    aware = datetime(2026, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))

    def build(book):
        with book.sheet("Values") as ws:
            ws.append(["text", 42, 2.5, True, False, None, aware, date(2026, 1, 2), Decimal("1.25")])
            ws.append([Colour.RED, Level.HIGH, "", float("nan"), "after gaps"])

    ws = opened(written(build))["Values"]
    first = [c.value for c in ws[1]]
    assert first[:6] == ["text", 42, 2.5, True, False, None]
    assert first[6] == datetime(2026, 3, 1, 12, 30)  # UTC, as every date in the workbook
    assert first[7] == datetime(2026, 1, 2)
    assert first[8] == 1.25
    assert ws.cell(row=1, column=7).number_format == DATE_FORMAT
    second = [c.value for c in ws[2]]
    assert second[:5] == ["red", 3, None, "nan", "after gaps"]  # an empty string is an empty cell


def test_dates_keep_their_seconds_and_the_serial_is_excels():
    assert serial(datetime(1900, 3, 1)) == 61  # the serial day Excel gives 1900-03-01
    moment = datetime(2026, 12, 2, 5, 23, 44, 250_000, tzinfo=UTC)

    def build(book):
        with book.sheet("Dates") as ws:
            ws.append([moment])

    value = opened(written(build))["Dates"]["A1"].value
    assert abs(value - moment.replace(tzinfo=None)) < timedelta(milliseconds=1)


def test_text_is_kept_whole_escaped_and_stripped_of_what_xml_cannot_carry():
    awkward = [
        "a < b && c > d",
        "  padded  ",
        "line one\nline two",
        "quote \" and apostrophe '",
        "bell\x07 and null\x00 gone",
        "ünïcode ✓ 中文",
        "lone \ud800 surrogate",
    ]

    def build(book):
        with book.sheet("Text", inline=[False, True]) as ws:
            for text in awkward:
                ws.append([text, text])  # the shared-string table and the inline cell

    ws = opened(written(build))["Text"]
    expected = [t.replace("\x07", "").replace("\x00", "") for t in awkward]
    expected[-1] = "lone ? surrogate"
    for row, text in zip(ws.iter_rows(values_only=True), expected, strict=True):
        assert row == (text, text)


def test_repeated_short_text_is_stored_once_and_long_text_in_its_cell():
    def build(book):
        with book.sheet("Rows", inline=[False, True]) as ws:
            for i in range(1_000):
                ws.append(["check_x", f"detail {i}"])

    data = written(build)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        strings = archive.read("xl/sharedStrings.xml").decode()
        sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert strings.count("<si>") == 1 and "check_x" in strings
    assert "detail 999" in sheet and "detail" not in strings
    ws = opened(data)["Rows"]
    assert ws.max_row == 1_000 and ws["B1000"].value == "detail 999"


def test_text_that_looks_like_a_formula_gets_the_quote_prefix_styled_or_not():
    fill = Style(fill="FFE3E3")

    def build(book):
        with book.sheet("Cells", inline=[False, False, True]) as ws:
            ws.append(["=1+1", "plain", "@SUM(A1:A2)"])
            ws.append(["+cmd", "-2", "\r=1"], [book.style(fill), book.style(fill), None])

    data = written(build)
    ws = opened(data)["Cells"]
    assert [c.quotePrefix for c in ws[1]] == [True, False, True]
    assert [c.quotePrefix for c in ws[2]] == [True, True, True]
    assert ws["A2"].fill.fgColor.rgb.endswith("FFE3E3") and ws["A2"].value == "+cmd"
    assert all(c.data_type == "s" for row in ws.iter_rows() for c in row)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert b"<f" not in archive.read("xl/worksheets/sheet1.xml")


def test_sheet_layout_header_style_freeze_widths_and_filter():
    header = Style(bold=True, color="FFFFFF", fill="1B2636", vertical="center")

    def build(book):
        with book.sheet("Findings", widths=[12, 40.5], freeze_rows=2) as ws:
            ws.append(["A note"], [book.style(Style(italic=True, color="495057"))])
            ws.append(["Id", "Detail"], [book.style(header)] * 2)
            ws.append([1, "x"])
            ws.autofilter(2, 3, 2)
        with book.sheet("Second & 'last'") as ws:
            ws.append(["only"])

    wb = opened(written(build))
    assert wb.sheetnames == ["Findings", "Second & 'last'"]
    ws = wb["Findings"]
    assert ws.freeze_panes == "A3"
    assert ws.auto_filter.ref == "A2:B3"
    assert ws.column_dimensions["A"].width == 12 and ws.column_dimensions["B"].width == 40.5
    assert ws["A1"].font.italic and ws["A1"].font.color.rgb.endswith("495057")
    for cell in ws[2]:
        assert cell.font.bold and cell.font.color.rgb.endswith("FFFFFF")
        assert cell.fill.fgColor.rgb.endswith("1B2636") and cell.alignment.vertical == "center"
    assert not ws["A3"].font.bold and ws["A3"].fill.fill_type is None
    assert wb["Second & 'last'"].freeze_panes is None


def test_every_part_is_well_formed_and_declared():
    def build(book):
        for name in ("One", "Two"):
            with book.sheet(name) as ws:
                ws.append([name, 1])
                ws.autofilter(1, 1, 2)

    with zipfile.ZipFile(io.BytesIO(written(build))) as archive:
        names = archive.namelist()
        for name in names:
            ElementTree.fromstring(archive.read(name))  # raises on XML that is not well formed
        types = archive.read("[Content_Types].xml").decode()
        workbook = archive.read("xl/workbook.xml").decode()
    for part in names:
        if part.endswith(".xml") and part != "[Content_Types].xml":
            assert f'PartName="/{part}"' in types, part
    assert "'One'!$A$1:$B$1" in workbook and "'Two'!$A$1:$B$1" in workbook


def test_rows_across_many_chunks_all_arrive_in_order(monkeypatch):
    monkeypatch.setattr(xlsx, "CHUNK_CHARS", 200)  # a chunk every few rows, through the compressor thread

    def build(book):
        with book.sheet("Many", inline=[False, True]) as ws:
            for i in range(5_000):
                ws.append([i, f"row {i}", i % 7 == 0])

    ws = opened(written(build))["Many"]
    values = list(ws.iter_rows(values_only=True))
    assert values == [(i, f"row {i}", i % 7 == 0) for i in range(5_000)]


def test_more_values_than_widths_and_a_short_style_list_keep_every_value():
    def build(book):
        with book.sheet("Wide", widths=[10]) as ws:
            ws.append(["a", "b", "c", 4], [book.style(Style(bold=True))])

    ws = opened(written(build))["Wide"]
    assert [c.value for c in ws[1]] == ["a", "b", "c", 4]
    assert ws["A1"].font.bold and not ws["B1"].font.bold
    assert column_letter(1) == "A" and column_letter(27) == "AA" and column_letter(16_384) == "XFD"


@pytest.mark.parametrize(
    ("title", "message"),
    [("", "1-31 characters"), ("x" * 32, "1-31 characters"), ("a/b", "none of"), ("summary", "is taken")],
)
def test_a_bad_or_taken_sheet_name_is_refused_by_name(title, message):
    with XlsxWriter(io.BytesIO()) as book:
        book.sheet("Summary").close()
        with pytest.raises(ValueError, match=message):
            book.sheet(title)


def test_an_unknown_number_format_is_refused():
    with XlsxWriter(io.BytesIO()) as book, pytest.raises(ValueError, match="only 'yyyy-mm-dd hh:mm'"):
        book.style(Style(number_format="0.00%"))


class FailingFile(io.BytesIO):
    """A file that fails once the workbook is part written: a disk that filled up."""

    def write(self, data):
        if self.tell() > 10_000:
            raise OSError(28, "No space left on device")
        return super().write(data)


def test_a_failing_disk_is_reported_and_the_writer_thread_ends(monkeypatch):
    monkeypatch.setattr(xlsx, "CHUNK_CHARS", 1_000)
    book = XlsxWriter(FailingFile(), compresslevel=0)
    with pytest.raises(OSError, match="No space left"), book, book.sheet("Rows", inline=[True]) as ws:
        for i in range(100_000):  # the disk fills a few rows in, on the compressor's thread
            ws.append([f"row {i} " * 10])
    assert not [t for t in xlsx.threading.enumerate() if t.name.startswith("xlsx ")]


def test_an_error_while_rows_are_written_ends_the_writer_thread_too():
    book = XlsxWriter(io.BytesIO())
    with pytest.raises(RuntimeError, match="the caller's"), book, book.sheet("Rows") as ws:
        ws.append(["one"])
        raise RuntimeError("the caller's own failure")
    assert not [t for t in xlsx.threading.enumerate() if t.name.startswith("xlsx ")]


def test_text_over_excels_cell_limit_is_cut_and_says_so():
    long = "x" * 40_000

    def build(book):
        with book.sheet("Long", inline=[False, True]) as ws:
            ws.append([long, long])
            ws.append(["y" * xlsx.MAX_CELL_CHARS, "short"])

    ws = opened(written(build))["Long"]
    for cell in ws[1]:
        assert len(cell.value) == xlsx.MAX_CELL_CHARS
        assert cell.value.startswith("x" * 30_000)
        assert cell.value.endswith("[cut here: 40,000 characters in all]")
    assert ws["A2"].value == "y" * xlsx.MAX_CELL_CHARS  # at the limit: kept whole


def test_dates_before_excels_calendar_are_written_as_text():
    def build(book):
        with book.sheet("Old") as ws:
            ws.append([datetime(1899, 12, 31, 8, 0), date(1900, 1, 15), date(1900, 3, 1)])

    ws = opened(written(build))["Old"]
    assert [c.value for c in ws[1]] == ["1899-12-31 08:00:00", "1900-01-15", datetime(1900, 3, 1)]


def test_no_member_carries_a_zip64_header_which_excel_refuses():
    def build(book):
        with book.sheet("Rows", inline=[False, True]) as ws:
            for i in range(20_000):
                ws.append([i, f"detail {i} " * 5])

    data = written(build)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
    assert len(infos) == 9
    for info in infos:
        # The local header as Excel reads it: version 2.0, real sizes, no extra field (Zip64's is one).
        header = data[info.header_offset : info.header_offset + 30]
        version, compressed, size, _, extra_length = struct.unpack("<H12xII2H", header[4:30])
        assert header[:4] == b"PK\x03\x04" and version == 20, info.filename
        assert (compressed, size) == (info.compress_size, info.file_size) and extra_length == 0, info.filename
        assert info.extra == b"" and info.extract_version == 20, info.filename


def test_a_sheet_too_large_for_a_plain_zip_member_fails_by_name(monkeypatch):
    monkeypatch.setattr(xlsx, "MAX_MEMBER_BYTES", 50_000)
    monkeypatch.setattr(xlsx, "CHUNK_CHARS", 1_000)
    book = XlsxWriter(io.BytesIO())
    too_large = pytest.raises(ValueError, match=r"xl/worksheets/sheet1.xml: more than .* Zip64")
    with too_large, book, book.sheet("Rows", inline=[True]) as ws:
        for i in range(10_000):
            ws.append([f"row {i} " * 10])
    assert not [t for t in xlsx.threading.enumerate() if t.name.startswith("xlsx ")]
