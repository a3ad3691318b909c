"""Read-only tables: label/value figures, and rows under fixed columns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.text import Text
from textual.widgets import DataTable

__all__ = ["FigureTable", "RowsTable"]


class RowsTable(DataTable):
    """A row-cursor table of plain-text cells; row keys are kept so callers can find rows again.

    Column widths are set explicitly from the widest cell. DataTable's own auto-width is computed
    when the app is idle, and a row painted before that keeps a cut-off rendering (e.g. ``62`` for
    ``627.3``); with explicit widths a row is right the first time it is painted.
    """

    def __init__(self, columns: Sequence[str], **kwargs) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._columns = tuple(columns)
        self._rows: list[tuple[tuple[str, ...], str | None]] = []
        self._widths = [Text(c).cell_len for c in self._columns]

    def on_mount(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        cursor = self.cursor_row
        self.clear(columns=True)
        for label, width in zip(self._columns, self._widths, strict=True):
            self.add_column(label, width=width)
        for row, key in self._rows:
            self.add_row(*(Text(c) for c in row), key=key)
        if self._rows:
            self.move_cursor(row=min(cursor, len(self._rows) - 1), scroll=False)

    def _fits(self, row: Sequence[str]) -> bool:
        grew = False
        for k, cell in enumerate(row):
            w = Text(cell).cell_len
            if w > self._widths[k]:
                self._widths[k], grew = w, True
        return not grew

    def set_columns(self, columns: Sequence[str]) -> None:
        """Replace the columns (and drop every row)."""
        self._columns = tuple(columns)
        self._rows = []
        self._widths = [Text(c).cell_len for c in self._columns]
        if self.is_mounted:
            self._rebuild()

    def set_rows(self, rows: Iterable[Sequence[str]], keys: Iterable[str] | None = None) -> None:
        rows = [tuple(str(c) for c in r) for r in rows]
        keys = list(keys) if keys is not None else [None] * len(rows)
        self._rows = list(zip(rows, keys, strict=True))
        self._widths = [Text(c).cell_len for c in self._columns]
        for r in rows:
            self._fits(r)
        if self.is_mounted:
            self._rebuild()

    def add(self, row: Sequence[str], key: str | None = None) -> None:
        row = tuple(str(c) for c in row)
        self._rows.append((row, key))
        if not self.is_mounted:
            return
        if self._fits(row):
            # Cells are plain text: "[0.3, 0.9]" must not be read as markup.
            self.add_row(*(Text(c) for c in row), key=key)
        else:
            self._rebuild()

    def texts(self) -> list[tuple[str, ...]]:
        """The cells as plain strings, in display order (tests compare them with files)."""
        return [tuple(str(c) for c in self.get_row_at(i)) for i in range(self.row_count)]


class FigureTable(RowsTable):
    """Two or more columns: a label and its value(s)."""

    def __init__(self, columns: Sequence[str] = ("", "value"), **kwargs) -> None:
        super().__init__(columns, **kwargs)
        self.cursor_type = "none"
        self.zebra_stripes = False
