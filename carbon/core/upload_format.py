"""A loan file's format, as its first bytes show it, against the format it was sent as.

A Parquet file begins with the magic bytes `PAR1`; CSV and NDJSON are text, NDJSON's first record a JSON
object. A mismatch (Parquet sent as text/csv, CSV named .parquet) is refused up front with what the bytes
say, rather than read as the wrong format and failing late with a confusing message.
"""

from __future__ import annotations

from carbon.errors import RequestError

__all__ = ["PARQUET_MAGIC", "SNIFF_BYTES", "check_file_start"]

PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64
_MEDIA = {"csv": "text/csv", "ndjson": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}


def check_file_start(head: bytes, fmt: str, name: str = "the file") -> None:
    """Refuse a file whose first bytes say another format than `fmt` (RequestError naming both): Parquet
    sent as text, text sent as Parquet, NDJSON sent as CSV. An empty start is left to the reader."""
    seen = _format_of(head)
    if seen is None or seen == fmt or (fmt == "ndjson" and seen == "csv"):  # a bad first line is a bad row
        return
    raise RequestError(
        f"{name} looks like {seen} ({_EVIDENCE[seen]}) but was sent as {fmt}: send it as {seen} "
        f"(Content-Type {_MEDIA[seen]} or ?format={seen})"
    )


def _format_of(head: bytes) -> str | None:
    """'parquet' by its magic bytes, 'ndjson' when the first line is a JSON object, 'csv' for other text."""
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text:
        return None
    return "ndjson" if text.startswith(b"{") else "csv"


_EVIDENCE = {
    "parquet": "it starts with the Parquet magic bytes PAR1",
    "ndjson": "its first line is a JSON object",
    "csv": "text without the Parquet magic bytes PAR1",
}
