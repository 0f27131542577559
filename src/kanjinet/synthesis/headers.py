"""Header fields of synthetic records that every written layout shares: the romanised
reading of the hiragana and the per-writer fields (sex, age, dates). They sit below
`synth` (ETL9G) and `etl_synth` (the other layouts), which both fill headers with them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

_HIRAGANA = (
    "あいうえおかがきぎくぐけげこごさざしじすずせぜそぞただちぢつづてでとど"
    "なにぬねのはばぱひびぴふぶぷへべぺほぼぽまみむめもやゆよらりるれろわをん"
)
# fmt: off
_ROMAJI = [
    "A", "I", "U", "E", "O", "KA", "GA", "KI", "GI", "KU", "GU", "KE", "GE", "KO", "GO",
    "SA", "ZA", "SHI", "JI", "SU", "ZU", "SE", "ZE", "SO", "ZO", "TA", "DA", "CHI", "DI", "TSU",
    "DU", "TE", "DE", "TO", "DO", "NA", "NI", "NU", "NE", "NO", "HA", "BA", "PA", "HI", "BI",
    "PI", "FU", "BU", "PU", "HE", "BE", "PE", "HO", "BO", "PO", "MA", "MI", "MU", "ME", "MO",
    "YA", "YU", "YO", "RA", "RI", "RU", "RE", "RO", "WA", "WO", "N",
]
# fmt: on
ROMAJI = dict(zip(_HIRAGANA, _ROMAJI, strict=True))


@dataclass(frozen=True)
class WriterInfo:
    """Header fields that belong to a writer (a data set) rather than a record."""

    sex: int
    age: int
    industry: int
    occupation: int
    gathering_date: int
    scanning_date: int


@cache
def writer_info(seed: int, writer: int) -> WriterInfo:
    rng = np.random.default_rng([seed, writer, 0, 1])
    year, month = int(rng.integers(81, 85)), int(rng.integers(1, 13))
    scan_month = month + int(rng.integers(1, 7))
    scan_year = year + (scan_month - 1) // 12
    scan_month = (scan_month - 1) % 12 + 1
    return WriterInfo(
        sex=int(rng.integers(1, 3)),
        age=int(rng.integers(15, 60)),
        industry=int(rng.integers(0, 10)) * int(rng.random() < 0.4),  # often 0, as in the scans
        occupation=int(rng.integers(0, 10)) * int(rng.random() < 0.4),
        gathering_date=year * 100 + month,
        scanning_date=scan_year * 100 + scan_month,
    )
