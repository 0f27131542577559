"""The fixed table of the 3,036 ETL9G classes, in JIS X 0208 order.

Fixed in code rather than inferred from whatever files are present, so datasets
prepared from different subsets of the files agree on class indices.

Source: AIST's ETL9 description (etlcdb.db.aist.go.jp, "ETL9": 2,965 JIS level-1
kanji + 71 hiragana = 3,036 classes) and the public ETL9G readers built on it.
JIS row 4 (0x2421..0x2473) holds 83 hiragana; ETL9G lacks the 10 small kana
(ぁぃぅぇぉ っ ゃゅょ ゎ) and the obsolete ゐ ゑ, leaving 71. JIS level 1 kanji are rows
0x30..0x4E (94 each) plus 0x4F21..0x4F53 (the last is 腕): 2,965.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

# JIS X 0208 codes of the hiragana ETL9G does *not* contain: the small kana
# ぁ ぃ ぅ ぇ ぉ っ ゃ ゅ ょ ゎ and the obsolete ゐ ゑ.
ABSENT_HIRAGANA = frozenset(
    {0x2421, 0x2423, 0x2425, 0x2427, 0x2429, 0x2443, 0x2463, 0x2465, 0x2467, 0x246E, 0x2470, 0x2471}
)
NUM_HIRAGANA = 71
NUM_KANJI = 2965
NUM_CLASSES = NUM_HIRAGANA + NUM_KANJI  # 3,036


def _hiragana_codes() -> list[int]:
    return [code for code in range(0x2421, 0x2474) if code not in ABSENT_HIRAGANA]


def _kanji_codes() -> list[int]:
    full_rows = [(row << 8) | col for row in range(0x30, 0x4F) for col in range(0x21, 0x7F)]
    return full_rows + list(range(0x4F21, 0x4F54))


#: Class index -> JIS X 0208 code. Hiragana first, then kanji: ascending JIS order.
CLASS_JIS: tuple[int, ...] = tuple(_hiragana_codes() + _kanji_codes())
#: JIS X 0208 code -> class index.
JIS_TO_INDEX: dict[int, int] = {code: index for index, code in enumerate(CLASS_JIS)}


def jis_to_char(code: int) -> str:
    """The character of a JIS X 0208 code, through Python's EUC-JP codec (EUC = JIS | 0x8080)."""
    return bytes([(code >> 8) | 0x80, (code & 0xFF) | 0x80]).decode("euc_jp")


def char_to_jis(char: str) -> int:
    """The JIS X 0208 code of a character (inverse of `jis_to_char`)."""
    euc = char.encode("euc_jp")
    if len(euc) != 2:
        raise ValueError(f"{char!r} is not a JIS X 0208 character")
    return ((euc[0] & 0x7F) << 8) | (euc[1] & 0x7F)


@dataclass(frozen=True)
class ClassInfo:
    index: int
    jis: int  # JIS X 0208 code, e.g. 0x4544 for 田
    unicode: int  # Unicode code point, e.g. 0x7530 for 田
    char: str

    def as_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "jis": f"{self.jis:04X}",
            "unicode": f"{self.unicode:04X}",
            "char": self.char,
        }


@cache
def class_table() -> tuple[ClassInfo, ...]:
    """All 3,036 classes with index, JIS code, Unicode code point and character."""
    infos = []
    for index, code in enumerate(CLASS_JIS):
        char = jis_to_char(code)
        infos.append(ClassInfo(index, code, ord(char), char))
    return tuple(infos)


@cache
def jis_lookup() -> np.ndarray:
    """A 65,536-entry int16 array mapping any 16-bit JIS code to its class index, -1 if none.

    Lets whole files of records be labelled in one vectorised step.
    """
    lookup = np.full(1 << 16, -1, dtype=np.int16)
    lookup[np.asarray(CLASS_JIS)] = np.arange(NUM_CLASSES, dtype=np.int16)
    return lookup


def class_of_char(char: str) -> ClassInfo:
    """The class of a character, or KeyError if it is not one of the 3,036."""
    return class_table()[JIS_TO_INDEX[char_to_jis(char)]]
