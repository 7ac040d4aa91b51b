"""Reading lead CSV files: encoding detection, header aliases and row parsing.

Excel and Google Sheets export UTF-8 (often with a BOM); Hebrew Excel on Windows exports
Windows-1255. We try UTF-8 first (strict, so a cp1255 file never decodes by accident) and
fall back to cp1255.
"""

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from leads.errors import LeadInputInvalid

ENCODINGS = ("utf-8-sig", "cp1255")
_CHUNK = 256 * 1024
_DELIMITERS = ",;\t|"


def _header_key(text: str) -> str:
    return " ".join(text.replace("\ufeff", "").replace("_", " ").replace("-", " ").strip().lower().split())


# Column aliases, compared after _header_key (lower case, "_" and "-" as spaces).
HEADER_ALIASES = {
    "phone": {
        "phone",
        "phone number",
        "phonenumber",
        "mobile",
        "mobile phone",
        "cell",
        "tel",
        "telephone",
        "טלפון",
        "מספר טלפון",
        "טלפון נייד",
        "נייד",
        "פלאפון",
        "סלולרי",
    },
    "name": {"name", "full name", "fullname", "שם", "שם מלא", "שם הלקוח", "שם ליד"},
    "first_name": {"first name", "firstname", "שם פרטי"},
    "last_name": {"last name", "lastname", "surname", "שם משפחה"},
    "email": {"email", "e mail", "mail", "email address", "אימייל", "מייל", 'דוא"ל', "דואל", "דואר אלקטרוני"},
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in HEADER_ALIASES.items() for alias in aliases}


@dataclass(frozen=True)
class CsvLayout:
    encoding: str
    delimiter: str
    columns: dict[str, int]  # lead field -> column index
    extra_columns: dict[int, str] = field(default_factory=dict)  # column index -> header text

    def as_payload(self) -> dict:
        return {"encoding": self.encoding, "delimiter": self.delimiter}


def _not_csv():
    return LeadInputInvalid({"file": [_("The file is not a CSV text file (UTF-8 or Windows-1255).")]})


def detect_encoding(binary: IO[bytes]) -> str:
    """Read the whole file once; the first encoding that decodes all of it."""
    for encoding in ENCODINGS:
        binary.seek(0)
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            while chunk := binary.read(_CHUNK):
                if b"\x00" in chunk:
                    raise _not_csv()
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        binary.seek(0)
        return encoding
    raise _not_csv()


def inspect_csv(binary: IO[bytes]) -> CsvLayout:
    """Validate an uploaded file: a CSV text with a phone column. Raises LeadInputInvalid."""
    encoding = detect_encoding(binary)
    text = io.TextIOWrapper(binary, encoding=encoding, newline="")
    try:
        header_line = text.readline()
        delimiter = _sniff_delimiter(header_line)
        header = next(csv.reader([header_line], delimiter=delimiter), [])
    except csv.Error:
        raise _not_csv() from None
    finally:
        text.detach()
        binary.seek(0)
    layout = layout_from_header(header, encoding=encoding, delimiter=delimiter)
    check_row_sizes(binary, encoding=encoding, delimiter=delimiter)
    return layout


def check_row_sizes(binary: IO[bytes], *, encoding: str, delimiter: str) -> None:
    """Every row parses, with cells of at most LEADS_IMPORT_MAX_CELL_CHARS and rows of at most
    LEADS_IMPORT_MAX_ROW_CHARS characters; LeadInputInvalid naming the first row that does not.
    Rows are numbered as a spreadsheet shows them (the header is row 1)."""
    max_cell, max_row = settings.LEADS_IMPORT_MAX_CELL_CHARS, settings.LEADS_IMPORT_MAX_ROW_CHARS
    text = open_text(binary, encoding=encoding)
    reader = csv.reader(text, delimiter=delimiter)
    row = 0
    try:
        while True:
            row += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                if "field larger than field limit" in str(error):
                    raise _row_invalid(row, _cell_too_long(max_cell)) from None
                raise _row_invalid(row, _("It is not valid CSV.")) from None
            if any(len(cell) > max_cell for cell in cells):
                raise _row_invalid(row, _cell_too_long(max_cell))
            if sum(len(cell) for cell in cells) > max_row:
                raise _row_invalid(row, _("It is longer than %(max)d characters.") % {"max": max_row})
    finally:
        text.detach()
        binary.seek(0)


def _cell_too_long(max_cell: int) -> str:
    return _("A cell is longer than %(max)d characters.") % {"max": max_cell}


def _row_invalid(row: int, reason: str) -> LeadInputInvalid:
    return LeadInputInvalid({"file": [_("Row %(row)d: %(reason)s") % {"row": row, "reason": reason}]})


def _sniff_delimiter(header_line: str) -> str:
    try:
        return csv.Sniffer().sniff(header_line, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        return ","


def layout_from_header(header: list[str], *, encoding: str, delimiter: str) -> CsvLayout:
    columns: dict[str, int] = {}
    extra: dict[int, str] = {}
    for index, title in enumerate(header):
        field_name = _ALIAS_TO_FIELD.get(_header_key(title))
        if field_name and field_name not in columns:
            columns[field_name] = index
        elif title.strip():
            extra[index] = title.replace("\ufeff", "").strip()
    if "phone" not in columns:
        raise LeadInputInvalid(
            {"file": [_("The file has no phone column (for example 'phone' or 'טלפון') in its first row.")]}
        )
    return CsvLayout(encoding=encoding, delimiter=delimiter, columns=columns, extra_columns=extra)


def open_text(binary: IO[bytes], *, encoding: str) -> io.TextIOWrapper:
    return io.TextIOWrapper(binary, encoding=encoding, newline="")


def count_data_rows(binary: IO[bytes], *, layout: CsvLayout) -> int:
    text = open_text(binary, encoding=layout.encoding)
    try:
        return max(0, sum(1 for _row in csv.reader(text, delimiter=layout.delimiter)) - 1)
    finally:
        text.detach()
        binary.seek(0)


def read_header(text: IO[str], *, delimiter: str) -> list[str]:
    return next(csv.reader(text, delimiter=delimiter), [])


def data_rows(text: IO[str], *, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) after the header; numbered as a spreadsheet shows them (header = 1)."""
    reader = csv.reader(text, delimiter=delimiter)
    next(reader, None)
    yield from enumerate(reader, start=2)


def row_values(cells: list[str], layout: CsvLayout) -> tuple[str, str, str, dict[str, str]]:
    def cell(name: str) -> str:
        index = layout.columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else ""

    name = cell("name") or " ".join(part for part in (cell("first_name"), cell("last_name")) if part)
    custom = {
        title: cells[index].strip()
        for index, title in layout.extra_columns.items()
        if index < len(cells) and cells[index].strip()
    }
    return cell("phone"), name, cell("email"), custom
