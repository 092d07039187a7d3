"""Reading contact files: CSV (UTF-8, any of , ; tab as the separator) and XLSX, row by row, in
bounded memory whatever their size.

The first row names the columns. One of them holds the number (``number``, ``phone``, ``mobile``,
``msisdn``, ``رقم`` or ``الهاتف``, in any case); ``name`` (or ``الاسم``) is the contact's name; every
other named column is a custom field, kept as text. A row's line is its line in the file (the
header is line 1), so a bad row can be named where the person who made the file can find it.
"""

from __future__ import annotations

import codecs
import csv
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from openpyxl import load_workbook

from qasid.errors import InvalidRequest

NUMBER_HEADERS = frozenset({"number", "phone", "mobile", "msisdn", "phone number", "رقم", "الهاتف", "الرقم"})
NAME_HEADERS = frozenset({"name", "الاسم", "ناو"})
MAX_FIELDS = 20
MAX_FIELD_LENGTH = 200
SPOOL_BYTES = 8 * 1024 * 1024  # an XLSX file is spooled to disk beyond this (openpyxl needs to seek)


class FileFormat(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    number: str
    name: str | None
    fields: dict[str, str]


class Columns:
    """Where the number, the name and the custom fields are in each row."""

    def __init__(self, header: list[str]) -> None:
        names = [cell.strip() for cell in header]
        folded = [n.casefold() for n in names]
        numbers = [i for i, n in enumerate(folded) if n in NUMBER_HEADERS]
        if not numbers:
            raise InvalidRequest(
                "the first row must name the number's column (number, phone, mobile or msisdn)",
                errors=[{"field": "file", "message": "no number column"}],
            )
        self.number = numbers[0]
        self.name = next((i for i, n in enumerate(folded) if n in NAME_HEADERS), None)
        others = [i for i, n in enumerate(names) if n and i not in (self.number, self.name)]
        if len(others) > MAX_FIELDS:
            raise InvalidRequest(
                f"at most {MAX_FIELDS} custom fields",
                errors=[{"field": "file", "message": "too many columns"}],
            )
        self.fields = [(i, names[i]) for i in others]

    def row(self, line: int, cells: list[str]) -> Row:
        def cell(index: int | None) -> str:
            return cells[index].strip() if index is not None and index < len(cells) else ""

        fields = {name: value[:MAX_FIELD_LENGTH] for i, name in self.fields if (value := cell(i))}
        return Row(line, cell(self.number), cell(self.name)[:MAX_FIELD_LENGTH] or None, fields)


def rows(file_format: FileFormat, chunks: Iterable[bytes]) -> Iterator[Row]:
    """Every data row of the file whose bytes come in ``chunks``, in order."""
    cells = _csv_cells(chunks) if file_format == FileFormat.CSV else _xlsx_cells(chunks)
    first = next(cells, None)
    if first is None:
        raise InvalidRequest("the file is empty", errors=[{"field": "file", "message": "empty"}])
    columns = Columns(first[1])
    for line, found in cells:
        if any(value.strip() for value in found):  # blank lines are no rows
            yield columns.row(line, found)


def _csv_cells(chunks: Iterable[bytes]) -> Iterator[tuple[int, list[str]]]:
    """(line, cells): the line where the row starts, counting every line (a quoted field may hold
    line breaks)."""
    lines = _lines(chunks)
    first = next(lines, None)
    if first is None:
        return
    reader = csv.reader(_prepend(first, lines), _sniff(first))
    ended = 0
    for cells in reader:
        yield ended + 1, cells
        ended = reader.line_num


def _lines(chunks: Iterable[bytes]) -> Iterator[str]:
    """The text lines of UTF-8 bytes (a BOM dropped), however the chunks cut them."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
    rest = ""
    for chunk in chunks:
        text = rest + decoder.decode(chunk)
        parts = text.splitlines(keepends=True)
        rest = parts.pop() if parts and not parts[-1].endswith(("\n", "\r")) else ""
        yield from parts
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest


def _sniff(header: str) -> type[csv.Dialect]:
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    separator = max(counts, key=lambda sep: counts[sep])

    class Found(csv.excel):
        delimiter = separator

    return Found


def _prepend(first: str, lines: Iterator[str]) -> Iterator[str]:
    yield first
    yield from lines


def _xlsx_cells(chunks: Iterable[bytes]) -> Iterator[tuple[int, list[str]]]:
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spooled:
        for chunk in chunks:
            spooled.write(chunk)
        spooled.seek(0)
        try:
            book = load_workbook(spooled, read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a file that is not XLSX
            raise InvalidRequest(
                f"not an XLSX file: {exc}", errors=[{"field": "file", "message": "not XLSX"}]
            ) from exc
        try:
            for line, values in enumerate(book.worksheets[0].iter_rows(values_only=True), start=1):
                yield line, [_text(value) for value in values]
        finally:
            book.close()


def _text(value: object) -> str:
    """A cell as text; whole numbers without ".0" (a number column often comes as floats)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
