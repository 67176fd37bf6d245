"""Reading an untrusted Parquet file in bounded memory. A partition of a few KB can expand to gigabytes (zstd,
dictionary and run-length encoding), so `inspect` reads the footer and every page header first and refuses a file
over the caps before any page is decompressed, and `read_bounded` then measures the text columns (read
dictionary-encoded: a value repeated a million times costs its length once) before handing out slices of a few
megabytes decoded.

The footer alone is not enough: it is written by whoever wrote the file, and the reader allocates what each page
header says. So every page header is read (Thrift compact protocol, below) and must agree with the footer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

_DATA_PAGE, _INDEX_PAGE, _DICTIONARY_PAGE, _DATA_PAGE_V2 = 0, 1, 2, 3
_MAX_HEADER = 256 * 1024  # a page header with statistics is a few hundred bytes
_MAX_DEPTH = 16
_BATCH_ROWS = 4096
_BATCH_BYTES = 64 * 1024 * 1024  # pages one batch may touch, beyond the one-row minimum
_SLICE_BYTES = 32 * 1024 * 1024  # decoded text per table handed out


class PartitionRefused(ValueError):
    """The file must not be loaded; the message says which cap or which inconsistency, with the numbers."""


@dataclass(frozen=True)
class Caps:
    max_bytes: int  # decompressed size of the whole partition: page sizes, and decoded text while reading
    max_rows: int
    max_page_bytes: int  # one decompressed page: what the reader allocates at once
    max_list_items: int  # values per row in a repeated (list) column
    max_resident_bytes: int = 512 * 1024 * 1024  # the largest page of every column of a row group, together


@dataclass(frozen=True)
class Chunk:
    """One column chunk as its page headers describe it."""

    column: str  # top-level column name
    repeated: bool
    dictionary_bytes: int
    sizes: np.ndarray  # decompressed size of each data page
    values: np.ndarray  # values (rows, for a flat column) in each data page

    def window(self, rows: int, list_items: int) -> int:
        """The most bytes reading `rows` consecutive rows can decompress: the dictionary plus every page such a
        run can touch (a value never spans pages; decoded plain text is about its page's size)."""
        n = len(self.sizes)
        if n == 0:
            return self.dictionary_bytes
        need = rows * (list_items if self.repeated else 1) - 1  # values after the run's first one
        size_sum = np.concatenate([[0], np.cumsum(self.sizes)])
        value_sum = np.concatenate([[0], np.cumsum(self.values)])
        start = np.arange(n)
        # the run starts in page k; it ends in the first page e > k by which `need` more values are covered
        end = np.searchsorted(value_sum, value_sum[start + 1] + need, side="left")
        end = np.minimum(np.maximum(end, start + 1), n)
        return self.dictionary_bytes + int((size_sum[end] - size_sum[start]).max())


@dataclass(frozen=True)
class Declared:
    rows: int
    row_groups: int
    uncompressed_bytes: int  # summed over every page header
    chunks: tuple[tuple[Chunk, ...], ...] = ()  # per row group


class _Thrift:
    """Just enough of the Thrift compact protocol to read a PageHeader and skip what it does not need."""

    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def byte(self) -> int:
        if self.pos >= len(self.buf):
            raise PartitionRefused("page header runs past its bytes")
        b = self.buf[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 63:
                raise PartitionRefused("malformed page header (varint too long)")

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip(self, ttype: int, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise PartitionRefused("malformed page header (nested too deeply)")
        if ttype in (1, 2):  # bool inside a struct: the value is the type
            return
        if ttype == 3:
            self.pos += 1
        elif ttype in (4, 5, 6):
            self.varint()
        elif ttype == 7:
            self.pos += 8
        elif ttype == 8:
            length = self.varint()  # not `self.pos += self.varint()`: that adds to the position before the read
            self.pos += length
        elif ttype in (9, 10):
            head = self.byte()
            size = head >> 4 if head >> 4 != 15 else self.varint()
            elem = head & 0x0F
            for _ in range(size):
                if elem in (1, 2):
                    self.pos += 1  # bools in lists take a byte each
                else:
                    self.skip(elem, depth + 1)
        elif ttype == 11:
            size = self.varint()
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.skip(kv >> 4, depth + 1)
                    self.skip(kv & 0x0F, depth + 1)
        elif ttype == 12:
            self.struct(depth + 1, lambda fid, t: False)
        else:
            raise PartitionRefused(f"malformed page header (unknown Thrift type {ttype})")
        if self.pos > len(self.buf):
            raise PartitionRefused("page header runs past its bytes")

    def struct(self, depth: int, read_field: Callable[[int, int], bool]) -> None:
        """Walk one struct; `read_field(field_id, type)` consumes the fields it wants and returns True."""
        fid = 0
        while True:
            head = self.byte()
            if head == 0:
                return
            delta, ttype = head >> 4, head & 0x0F
            fid = fid + delta if delta else self.zigzag()
            if not read_field(fid, ttype):
                self.skip(ttype, depth)


@dataclass
class _PageHeader:
    kind: int = -1
    uncompressed: int = -1
    compressed: int = -1
    num_values: int = 0
    length: int = 0


def read_page_header(buf: bytes) -> _PageHeader:
    t = _Thrift(buf)
    page = _PageHeader()

    def nested(fid: int, ttype: int) -> bool:
        if fid == 1 and ttype == 5:  # num_values, first field of every *PageHeader
            page.num_values = t.zigzag()
            return True
        return False

    def top(fid: int, ttype: int) -> bool:
        if ttype == 5 and fid in (1, 2, 3):
            value = t.zigzag()
            if fid == 1:
                page.kind = value
            elif fid == 2:
                page.uncompressed = value
            else:
                page.compressed = value
            return True
        if ttype == 12 and fid in (5, 7, 8):
            t.struct(1, nested)
            return True
        return False

    t.struct(0, top)
    if page.kind < 0 or page.uncompressed < 0 or page.compressed < 0:
        raise PartitionRefused("malformed page header (type or sizes missing)")
    page.length = t.pos
    return page


def _walk_chunk(fh: BinaryIO, start: int, size: int, where: str, caps: Caps) -> tuple[int, list[int], list[int]]:
    """(dictionary page bytes, data page sizes, data page values) of one column chunk, from its page headers."""
    dictionary = 0
    sizes: list[int] = []
    values: list[int] = []
    pos, end = start, start + size
    while pos < end:
        fh.seek(pos)
        page = read_page_header(fh.read(min(_MAX_HEADER, end - pos)))
        if page.uncompressed > caps.max_page_bytes:
            raise PartitionRefused(f"{where}: a page decompresses to {page.uncompressed:,} bytes, over the "
                                   f"{caps.max_page_bytes:,}-byte page cap")
        if page.kind in (_DATA_PAGE, _DATA_PAGE_V2):
            sizes.append(page.uncompressed)
            values.append(page.num_values)
        else:
            dictionary += page.uncompressed
        pos += page.length + page.compressed
    if pos != end:
        raise PartitionRefused(f"{where}: page headers do not add up to the chunk size the footer gives")
    return dictionary, sizes, values


def inspect(path: Path, caps: Caps, expected_rows: int | None = None) -> Declared:
    """Read the footer and every page header of `path`; raise PartitionRefused when a cap would be passed or
    the file is inconsistent. Reads no data page."""
    try:
        meta = pq.ParquetFile(path).metadata
    except (pa.ArrowException, OSError) as exc:
        raise PartitionRefused(f"unreadable Parquet footer: {exc}") from exc
    rows = meta.num_rows
    if expected_rows is not None and rows != expected_rows:
        raise PartitionRefused(f"{rows:,} rows in the file's footer, manifest says {expected_rows:,}")
    if rows > caps.max_rows:
        raise PartitionRefused(f"{rows:,} rows, over the {caps.max_rows:,}-row cap per partition")
    repeated = {meta.schema.column(j).path for j in range(meta.num_columns)
                if meta.schema.column(j).max_repetition_level > 0}
    total = 0
    groups: list[tuple[Chunk, ...]] = []
    with open(path, "rb") as fh:
        for i in range(meta.num_row_groups):
            rg = meta.row_group(i)
            chunks: list[Chunk] = []
            for j in range(rg.num_columns):
                col = rg.column(j)
                where = f"row group {i}, column {col.path_in_schema}"
                start = col.data_page_offset
                if col.has_dictionary_page and col.dictionary_page_offset:
                    start = min(start, col.dictionary_page_offset)
                dictionary, sizes, values = _walk_chunk(fh, start, col.total_compressed_size, where, caps)
                if sum(values) != col.num_values:
                    raise PartitionRefused(f"{where}: page headers hold {sum(values):,} values, the footer says "
                                           f"{col.num_values:,}")
                is_repeated = col.path_in_schema in repeated
                if sum(values) > max(rg.num_rows, 1) * (caps.max_list_items if is_repeated else 1):
                    raise PartitionRefused(f"{where}: {sum(values):,} values for {rg.num_rows:,} rows")
                total += dictionary + sum(sizes)
                if total > caps.max_bytes:
                    raise PartitionRefused(f"decompresses to more than {caps.max_bytes:,} bytes (the cap per "
                                           "partition), by its page headers")
                chunks.append(Chunk(col.path_in_schema.split(".")[0], is_repeated, dictionary,
                                    np.array(sizes, dtype=np.int64), np.array(values, dtype=np.int64)))
            resident = sum(c.window(1, caps.max_list_items) for c in chunks)
            if resident > caps.max_resident_bytes:
                raise PartitionRefused(f"row group {i}: reading one row decompresses {resident:,} bytes at once, "
                                       f"over the {caps.max_resident_bytes:,}-byte cap")
            groups.append(tuple(chunks))
    return Declared(rows, meta.num_row_groups, total, tuple(groups))


def _batch_rows(chunks: Sequence[Chunk], columns: set[str], caps: Caps) -> int:
    """The most rows (a power of two, ≤ _BATCH_ROWS) whose pages fit _BATCH_BYTES, or one row."""
    wanted = [c for c in chunks if c.column in columns]
    rows = _BATCH_ROWS
    while rows > 1 and sum(c.window(rows, caps.max_list_items) for c in wanted) > _BATCH_BYTES:
        rows //= 2
    return rows


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):  # a file written from Arrow may say so in its embedded schema
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_binary(t) \
        or pa.types.is_large_binary(t)


def _text_sizes(batch: pa.RecordBatch, name: str, cap: int) -> np.ndarray:
    """Decoded bytes per row of one dictionary-encoded text column; refuses a value longer than `cap`."""
    col = batch.column(name)
    if not isinstance(col, pa.DictionaryArray):
        col = col.dictionary_encode()
    lengths = pc.binary_length(col.dictionary)
    longest = pc.max(lengths).as_py() or 0
    if longest > cap:
        raise PartitionRefused(f"column {name} holds a value of {longest:,} bytes, over the {cap:,}-byte cap")
    return pc.fill_null(pc.take(lengths, col.indices), 0).to_numpy(zero_copy_only=False).astype(np.int64)


def read_bounded(path: Path, declared: Declared, columns: Sequence[str], value_cap: Callable[[str], int],
                 caps: Caps) -> Iterator[pa.Table]:
    """`columns` of `path` (those it has; nothing else is decoded) as tables of about _SLICE_BYTES each, read a
    row group at a time in batches sized from the page headers (`declared`, from `inspect`). A first pass over
    the text columns refuses, before any table is handed out, a value over `value_cap(column)` or a decoded size
    over `caps.max_bytes` (text bytes plus 8 per other value)."""
    schema = pq.read_schema(path)
    wanted = set(columns)
    names = [f.name for f in schema if f.name in wanted]
    texts = [f.name for f in schema if f.name in wanted and _is_text(f.type)]
    pf = pq.ParquetFile(path, read_dictionary=texts)
    batch_rows = [_batch_rows(group, set(names), caps) for group in declared.chunks]

    def batches(cols: list[str]) -> Iterator[pa.RecordBatch]:
        for i, rows in enumerate(batch_rows):
            yield from pf.iter_batches(batch_size=rows, row_groups=[i], columns=cols, use_threads=False)

    decoded = declared.rows * 8 * (len(names) - len(texts))
    if texts:
        for batch in batches(texts):
            decoded += sum(int(_text_sizes(batch, n, value_cap(n)).sum()) for n in texts)
            if decoded > caps.max_bytes:
                raise PartitionRefused(f"decodes to more than {caps.max_bytes:,} bytes (the cap per partition)")
    for batch in batches(names):
        sizes = np.zeros(batch.num_rows, dtype=np.int64)
        for n in texts:
            sizes += _text_sizes(batch, n, value_cap(n))
        cum = np.cumsum(sizes)
        start = 0
        while start < batch.num_rows:
            base = int(cum[start - 1]) if start else 0
            end = max(int(np.searchsorted(cum, base + _SLICE_BYTES, side="right")), start + 1)
            piece = batch.slice(start, end - start)
            arrays = [c.dictionary_decode() if isinstance(c, pa.DictionaryArray) else c for c in piece.columns]
            yield pa.Table.from_arrays(arrays, names=piece.schema.names)
            start = end
