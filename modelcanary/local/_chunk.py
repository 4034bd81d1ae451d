"""The recorder's sealed rows: ``CHUNK_ROWS`` requests as compact numpy columns.

A chunk is immutable (an out-of-order insert builds a new one) so readers slice it after the
recorder's lock is released. Columns: timestamp, latency, status, version and mirror flags
(bit 0: challenger, bit 1: a mirror copy), prediction (floats with NaN for none, or shared
label objects), request id and unit key as fixed-width bytes: about 47 bytes a row, 61 with
a 16-character unit key, instead of ~300 for Python tuples.
"""

from __future__ import annotations

from typing import Any

from ..analysis._measurements import Side

Row = tuple[float, Side, float, int, float | str | None, str | None, bool, str]
"""One request as the recorder keeps it before sealing: (timestamp, version, latency ms,
status, prediction, request id, mirrored, unit key or "")."""
_SIDES: tuple[Side, Side] = ("champion", "challenger")
_CHALLENGER, _MIRRORED = 1, 2
_NUMBERS = {float, int, type(None)}


class Chunk:
    """``CHUNK_ROWS`` sealed rows as numpy columns (immutable: an insert builds a new one)."""

    __slots__ = ("flags", "ids", "latency", "predictions", "status", "times", "units")

    def __init__(self, rows: list[Row]) -> None:
        import numpy as np  # numpy-backed: imported with the first sealed chunk

        n = len(rows)
        times, versions, latency, status, predictions, ids, mirrored, units = zip(
            *rows, strict=True
        )
        self.times = np.array(times, dtype=np.float64)
        self.latency = np.array(latency, dtype=np.float64)
        self.status = np.array(status, dtype=np.int64).astype(np.int16)
        challenger = np.fromiter(map("challenger".__eq__, versions), dtype=np.uint8, count=n)
        self.flags = challenger | (np.array(mirrored, dtype=np.uint8) << 1)
        if set(map(type, predictions)) <= _NUMBERS:  # None becomes NaN
            self.predictions: Any = np.array(predictions, dtype=np.float64)
        else:  # labels: one object per distinct label, shared by every row that has it
            labels: dict[object, object] = {}
            self.predictions = np.array(
                [labels.setdefault(p, p) for p in predictions], dtype=object
            )
        self.ids = np.array([i.encode() if i else b"" for i in ids], dtype=np.bytes_)
        self.units = np.array([u.encode() for u in units], dtype=np.bytes_)

    def __len__(self) -> int:
        return len(self.times)

    def rows(self, lo: int, hi: int) -> list[Row]:
        """Rows ``lo:hi`` as tuples."""
        flags = self.flags[lo:hi].tolist()
        predictions = self.predictions[lo:hi].tolist()
        if self.predictions.dtype.kind == "f":
            predictions = [None if p != p else p for p in predictions]  # NaN: no prediction
        ids = [i.decode() or None for i in self.ids[lo:hi].tolist()]
        return list(
            zip(
                self.times[lo:hi].tolist(),
                [_SIDES[f & _CHALLENGER] for f in flags],
                self.latency[lo:hi].tolist(),
                self.status[lo:hi].tolist(),
                predictions,
                ids,
                [bool(f & _MIRRORED) for f in flags],
                [u.decode() for u in self.units[lo:hi].tolist()],
                strict=True,
            )
        )

    def search(self, value: float) -> int:
        """Index of the first row at or after ``value``."""
        return int(self.times.searchsorted(value, "left"))
