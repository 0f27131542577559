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


# --------------------------------------------------------------------------- class sets
#
# Labels index one table of every JIS X 0208 character: the 3,036 ETL9G classes first, in
# the order above (so ETL9G labels are unchanged), then every other JIS X 0208 character in
# JIS order (katakana, the hiragana ETL9G lacks, level-2 kanji, symbols). A character has
# one index whichever database it comes from; a class set is a subset of this table, named
# by the characters (Unicode) it holds.


def _all_jis0208_codes() -> list[int]:
    codes = []
    for row in range(0x21, 0x7F):
        for col in range(0x21, 0x7F):
            code = (row << 8) | col
            try:
                jis_to_char(code)
            except UnicodeDecodeError:
                continue
            codes.append(code)
    return codes


@cache
def table_jis() -> tuple[int, ...]:
    """Label -> JIS X 0208 code for every JIS X 0208 character, the ETL9G classes first."""
    known = set(CLASS_JIS)
    return CLASS_JIS + tuple(code for code in _all_jis0208_codes() if code not in known)


@cache
def table_index() -> dict[int, int]:
    """JIS X 0208 code -> label in `table_jis`."""
    return {code: index for index, code in enumerate(table_jis())}


@cache
def table_lookup() -> np.ndarray:
    """A 65,536-entry int16 array: any 16-bit JIS code -> its label in `table_jis`, -1 if none."""
    lookup = np.full(1 << 16, -1, dtype=np.int16)
    codes = np.asarray(table_jis())
    lookup[codes] = np.arange(len(codes), dtype=np.int16)
    return lookup


def table_size() -> int:
    return len(table_jis())


@cache
def label_info(label: int) -> ClassInfo:
    """The class of a label of the whole table (ETL9G labels give `class_table()[label]`)."""
    code = table_jis()[label]
    char = jis_to_char(code)
    return ClassInfo(label, code, ord(char), char)


def chars_in(first: str, last: str, skip: str = "") -> str:
    """The characters from `first` to `last` (Unicode order), without those in `skip`."""
    return "".join(chr(c) for c in range(ord(first), ord(last) + 1) if chr(c) not in skip)


#: Every hiragana of JIS X 0208 (ぁ..ん, 83) and every katakana (ァ..ヶ, 86).
HIRAGANA = chars_in("ぁ", "ん")
KATAKANA = chars_in("ァ", "ヶ")
#: The small katakana: each the shape of a full-size one, told apart by its size alone.
SMALL_KATAKANA = "ァィゥェォッャュョヮヵヶ"
#: The long-vowel mark (JIS 0x213C).
LONG_VOWEL = "ー"


def _etl9g_chars() -> str:
    return "".join(info.char for info in class_table())


def _joyo_chars() -> str:
    from kanjinet.core.joyo import JOYO_KANJI

    return JOYO_KANJI


#: Named class sets, each as the function giving its characters.
CLASS_SETS = {
    "etl9g": _etl9g_chars,  # the fixed 3,036 ETL9G classes (the default)
    "kana": lambda: HIRAGANA + KATAKANA,  # 169: both kana, small ones included
    "hiragana": lambda: HIRAGANA,
    "katakana": lambda: KATAKANA,
    "etl9g+katakana": lambda: _etl9g_chars() + KATAKANA,  # 3,122
    "etl9g+kana": lambda: _etl9g_chars() + HIRAGANA + KATAKANA,  # 3,134: all kana
    # 3,111: what `kanjinet read` tells by shape: ETL9G's classes, the 74 full-size katakana
    # and ー (small kana are a full-size class written small; `read` tells them by size)
    "read": lambda: _etl9g_chars() + chars_in("ァ", "ヶ", skip=SMALL_KATAKANA) + LONG_VOWEL,
    # 2,305: the jōyō kanji (30 of them JIS level 2, outside ETL9G's classes) and all kana
    "joyo+kana": lambda: _joyo_chars() + HIRAGANA + KATAKANA,
}
DEFAULT_CLASS_SET = "etl9g"


@cache
def class_set_labels(name: str) -> np.ndarray:
    """The sorted table labels of a named class set (ValueError naming the choices if unknown)."""
    if name not in CLASS_SETS:
        raise ValueError(f"class set {name!r}: expected one of {', '.join(CLASS_SETS)}")
    index = table_index()
    labels = {index[char_to_jis(char)] for char in CLASS_SETS[name]()}
    return np.array(sorted(labels), dtype=np.int64)


def character_kind(char: str) -> str:
    """'hiragana', 'katakana', 'kanji' or 'other': how results are reported per kind."""
    if "\u3041" <= char <= "\u309f":
        return "hiragana"
    if "\u30a1" <= char <= "\u30ff":
        return "katakana"
    if "\u4e00" <= char <= "\u9fff" or char == "\u3005":
        return "kanji"
    return "other"
