"""Reading a written word: the path search over candidate characters, and the rules for
what a single-character recogniser cannot see on its own.

The second half of over-segmentation and path search (Murase's segmentation-recognition
of handwritten Japanese text; Nakagawa et al.'s path evaluation for online and offline
Japanese text): `kanjinet.preprocess.segment` cuts the line into parts and lists the
runs of parts that may be characters (spans); each span is read by the recogniser
(calibrated probabilities), and dynamic programming picks the path of spans through the
line whose score is highest. A span's score is

    pitch x log(p) - PRIOR_WEIGHT x (max(0, ln(PITCH_LOW / pitch))^2 + max(0, ln(length / LENGTH_HIGH))^2)

where p is its best candidate's probability, pitch the room it takes in the line (from
the middle of the gap before it to the middle of the gap after it) and length its ink's
extent along the line, both over the line's thickness. Weighting log(p) by pitch makes
paths that cut the line into many or few characters comparable, as Nakagawa et al.'s
evaluation normalises by length; the prior (the shape prior) says a character takes
about as much room as the line is thick, so 日 + 月 does not beat 明, and that two
characters' ink is longer than one's. Its three constants were chosen on synthetic words
(bench/bench_words.py, seed 7).

Spans the prior alone already rules out (a cost above PRIOR_LIMIT) are left out before
anything is read, and the others are read in one call to the recogniser.

Rules, in the line's geometry (`segment.is_bar`, `segment.is_small`):
- Small kana: a kana with a small form (つ, や, ア ...), small and placed as small kana
  are (low in a horizontal line, right in a vertical one) within the band its
  neighbours on the path fill, and follows a kana, is its small form (っ, ゃ, ァ);
  after an i-row kana (き, シ ...) a small や, ゆ or よ is ゃ, ゅ or ょ wherever it is
  placed. The candidate keeps the recogniser's probability of the full-size kana.
- ー: a bar along a vertical line is shown to the recogniser turned, and its 一 is ー.
  In a horizontal line a bar is 一 or ー alike: ー after katakana, or after hiragana at
  the word's end or before katakana; 一 otherwise (一人, を一つ).
- Look-alike pairs (カ/力, エ/工, ロ/口, ニ/二, ハ/八, タ/夕, ト/卜, ヘ/へ, ベ/べ, ペ/ぺ, ー/一): the word
  around them decides what the picture cannot. Next to katakana the katakana reading is
  preferred, next to kanji (or hiragana, for ヘ/へ, ベ/べ, ペ/ぺ) the other, when the nearest
  unambiguous neighbours agree: it gets CONTEXT_PRIOR of the pair's probability.

web/reading.js mirrors this module (the same path for the same scores).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from kanjinet.core.errors import KanjinetError
from kanjinet.preprocess.segment import (
    LOOSE_BAR_THINNESS,
    Segmentation,
    Span,
    extent,
    is_bar,
    is_small,
    segment,
    span_crop,
)

PITCH_LOW = 0.6  # characters taking less room than this share of the thickness: penalised
LENGTH_HIGH = 1.1  # and characters whose ink is longer than this share
PRIOR_WEIGHT = 8.0
# Spans whose prior alone costs more are not read (a fifth of them on synthetic words;
# no reading of 300 words of seed 7 changed, at 0.5 one did).
PRIOR_LIMIT = 1.0
PROBABILITY_FLOOR = 1e-4  # log(0) guard: a span the recogniser finds nothing in
CONTEXT_PRIOR = 0.95  # the share of a look-alike pair's probability the neighbours' choice gets
NEIGHBOURS = 2  # characters on each side whose band tells a small kana

SMALL_FORMS = dict(zip("あいうえおつやゆよわアイウエオツヤユヨワカケ", "ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ", strict=True))  # fmt: skip
#: Kana a small ゃ ゅ ょ (ャ ュ ョ) follows: the i-row.
I_ROW = frozenset("きぎしじちぢにひびぴみりキシチニヒミリ")
LONG_VOWEL, ONE = "ー", "一"
#: (katakana, look-alike of another script): the katakana reading first.
LOOK_ALIKES = (("カ", "力"), ("エ", "工"), ("ロ", "口"), ("ニ", "二"), ("ハ", "八"),
               ("タ", "夕"), ("ト", "卜"), ("ヘ", "へ"), ("ベ", "べ"), ("ペ", "ぺ"), (LONG_VOWEL, ONE))  # fmt: skip
PARTNER = {a: b for pair in LOOK_ALIKES for a, b in (pair, pair[::-1])}


@dataclass(frozen=True)
class Choice:
    """One possible reading of one character."""

    character: str
    probability: float  # calibrated where the model has a calibration

    def as_dict(self) -> dict[str, Any]:
        return {"character": self.character, "probability": round(self.probability, 6)}


@dataclass(frozen=True)
class ReadCharacter:
    """A character of a word: where it is and what it may be, most probable first."""

    box: tuple[int, int, int, int]  # x, y, width, height in the picture's pixels
    candidates: tuple[Choice, ...]
    sure: bool | None  # the best candidate reaches the model's unsure_below (None: no threshold)

    @property
    def character(self) -> str:
        return self.candidates[0].character

    def as_dict(self) -> dict[str, Any]:
        return {
            "character": self.character,
            "box": list(self.box),
            "candidates": [c.as_dict() for c in self.candidates],
            "sure": self.sure,
        }


@dataclass(frozen=True)
class Reading:
    """A word read from a picture."""

    text: str
    direction: str  # "horizontal" or "vertical"
    characters: tuple[ReadCharacter, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "direction": self.direction,
            "characters": [c.as_dict() for c in self.characters],
        }


#: The recogniser: uint8 ink crops (ink high, any size) -> per crop, choices best first.
Classify = Callable[[list[np.ndarray]], list[list[Choice]]]


def read_ink(
    ink: np.ndarray,
    classify: Classify,
    sure: Callable[[float], bool | None],
    direction: str = "auto",
) -> Reading:
    """A word in an ink-high uint8 picture (H, W) read: segmentation, recognition of every
    span the shape prior leaves, in one call, the best path, the rules; `sure` tells
    whether a probability is sure."""
    cut = likely_spans(segment(ink, direction))
    found = classify([span_crop(ink, span, cut) for span in cut.spans])
    return read_segmented(cut, found, sure)


def likely_spans(cut: Segmentation) -> Segmentation:
    """The segmentation without the spans whose shape prior alone costs more than
    PRIOR_LIMIT, which are then not read at all (a heuristic: on synthetic words such
    spans were never on the best path); where that leaves no path through the line,
    every single part stays besides."""
    kept = [span for span in cut.spans if prior(cut, span) <= PRIOR_LIMIT]
    if not spans_cover(cut, kept):
        kept = [span for span in cut.spans if span.first == span.last or span in kept]
    return replace(cut, spans=tuple(kept))


def spans_cover(cut: Segmentation, spans: Sequence[Span]) -> bool:
    """Is there a path of these spans (by first part) from the line's start to its end?"""
    reached = {0}
    for span in spans:
        if span.first in reached:
            reached.add(span.last + 1)
    return len(cut.parts) in reached


def read_segmented(
    cut: Segmentation, found: list[list[Choice]], sure: Callable[[float], bool | None]
) -> Reading:
    """The reading of a segmented line, given the recogniser's choices for every span."""
    choices = [span_choices(cut, span, c) for span, c in zip(cut.spans, found, strict=True)]
    path = best_path(cut, [c[0].probability for c in choices])
    readings = in_context([choices[i] for i in path], [cut.spans[i] for i in path], cut)
    characters = tuple(
        ReadCharacter(cut.spans[i].box(cut.direction), tuple(r), sure(r[0].probability))
        for i, r in zip(path, readings, strict=True)
    )
    return Reading("".join(c.character for c in characters), cut.direction, characters)


def span_choices(cut: Segmentation, span: Span, found: list[Choice]) -> list[Choice]:
    """The recogniser's choices for a span, ー and 一 as one bar, with the upright-ー rule."""
    found = as_one_bar(found)
    if cut.direction == "vertical" and is_bar(span, cut.thickness):
        return [replace(c, character=LONG_VOWEL) if c.character == ONE else c for c in found]
    return list(found)


def as_one_bar(found: list[Choice]) -> list[Choice]:
    """ー's probability added to 一's. They are the same stroke, which a model that knows
    both cannot tell apart; the line's direction and the neighbours decide (`in_context`)."""
    if all(c.character != LONG_VOWEL for c in found):
        return list(found)
    bar = sum(c.probability for c in found if c.character in (LONG_VOWEL, ONE))
    rest = [c for c in found if c.character not in (LONG_VOWEL, ONE)]
    return sorted([Choice(ONE, bar), *rest], key=lambda c: -c.probability)


def span_score(cut: Segmentation, span: Span, probability: float) -> float:
    """A span's score on a path (the module docstring's formula)."""
    return pitch(cut, span) * math.log(max(probability, PROBABILITY_FLOOR)) - prior(cut, span)


def pitch(cut: Segmentation, span: Span) -> float:
    """The room a span takes in the line, over the line's thickness."""
    room = edge(cut, span.last + 1) - edge(cut, span.first)  # < 0 where parts overlap
    return max(room, 1.0) / cut.thickness


def prior(cut: Segmentation, span: Span) -> float:
    """The shape prior's cost of a span: too little room, too long an ink."""
    short = max(0.0, math.log(PITCH_LOW / pitch(cut, span)))
    long = max(0.0, math.log((span.stop - span.start) / cut.thickness / LENGTH_HIGH))
    return PRIOR_WEIGHT * (short * short + long * long)


def edge(cut: Segmentation, k: int) -> float:
    """Where part k begins on a path: the middle of the gap before it. The line's ends
    take half the gap on their inner side (a line of one part: its ends)."""
    parts = cut.parts
    if k == 0:
        return parts[0][0] - (parts[1][0] - parts[0][1]) / 2 if len(parts) > 1 else parts[0][0]
    if k == len(parts):
        return parts[-1][1] + (parts[-1][0] - parts[-2][1]) / 2 if k > 1 else parts[-1][1]
    return (parts[k - 1][1] + parts[k][0]) / 2


def best_path(cut: Segmentation, probabilities: Sequence[float]) -> list[int]:
    """The spans (indices) of the highest-scoring path through the line: dynamic
    programming over part boundaries; ties keep the path found first."""
    count = len(cut.parts)
    best = [-math.inf] * (count + 1)
    came_by = [-1] * (count + 1)
    best[0] = 0.0
    for index, span in enumerate(cut.spans):  # by first part: best[first] is final
        score = best[span.first] + span_score(cut, span, probabilities[index])
        if score > best[span.last + 1]:
            best[span.last + 1], came_by[span.last + 1] = score, index
    path, at = [], count
    while at > 0:
        path.append(came_by[at])
        at = cut.spans[came_by[at]].first
    return path[::-1]


def script(character: str) -> str:
    """kanji, hiragana, katakana or other."""
    code = ord(character)
    if 0x3041 <= code <= 0x309F:
        return "hiragana"
    if 0x30A0 <= code <= 0x30FF:
        return "katakana"
    if 0x4E00 <= code <= 0x9FFF or character == "々":
        return "kanji"
    return "other"


def in_context(
    choices: list[list[Choice]], spans: list[Span], cut: Segmentation
) -> list[list[Choice]]:
    """Small kana by the band their neighbours fill, then look-alike pairs decided by the
    neighbours, left to right (module docstring)."""
    done: list[list[Choice]] = []
    for i, found in enumerate(choices):
        done.append(small_forms(found, spans, i, cut, done[i - 1][0].character if i else ""))
    for i, found in enumerate(done):
        bar = cut.direction == "horizontal" and is_bar(spans[i], cut.thickness, LOOSE_BAR_THINNESS)
        if bar and found[0].character == ONE:
            if lengthens(done, i):
                done[i] = shared(found, LONG_VOWEL, ONE, found[0].probability)
        elif found[0].character in PARTNER and found[0].character not in (LONG_VOWEL, ONE):
            preferred = context_choice(done, i)
            if preferred is not None:
                done[i] = resolved(found, preferred)
    return done


def small_forms(
    found: list[Choice], spans: list[Span], i: int, cut: Segmentation, before: str
) -> list[Choice]:
    """The choices of character i, kana in their small form where it is small in the band
    of its NEIGHBOURS characters on each side (bars left out; the whole line without),
    placed as small kana are, and after a kana (a word never starts with one, nor does
    one follow a kanji); や ゆ よ (ヤ ユ ヨ) after an i-row kana (き, シ...) wherever
    they are placed, as きゃ is far more common than きや."""
    around = [
        s
        for s in spans[max(0, i - NEIGHBOURS) : i] + spans[i + 1 : i + 1 + NEIGHBOURS]
        if not is_bar(s, cut.thickness)
    ]
    top = min((s.top for s in around), default=cut.line_top)
    bottom = max((s.bottom for s in around), default=cut.line_top + cut.thickness - 1)
    if not before or script(before) not in ("hiragana", "katakana"):  # they follow kana
        return list(found)
    anywhere = before in I_ROW and found[0].character in "やゆよヤユヨ"
    size = max((extent(s) for s in around), default=cut.thickness)
    if not is_small(spans[i], top, bottom - top + 1, size, anywhere):
        return list(found)
    return [replace(c, character=SMALL_FORMS.get(c.character, c.character)) for c in found]


def lengthens(done: list[list[Choice]], i: int) -> bool:
    """Is a horizontal bar ー rather than 一? After katakana, or after hiragana at the
    word's end or before katakana (を一つ keeps its 一)."""
    before = script(done[i - 1][0].character) if i else "other"
    after = script(done[i + 1][0].character) if i + 1 < len(done) else "end"
    return before == "katakana" or (before == "hiragana" and after in ("end", "katakana"))


def context_choice(done: list[list[Choice]], i: int) -> str | None:
    """The pair member the nearest unambiguous neighbours' scripts prefer, if they agree."""
    top = done[i][0].character
    katakana = top if script(top) == "katakana" else PARTNER[top]
    other = PARTNER[katakana]
    around = [nearest(done, range(i - 1, -1, -1)), nearest(done, range(i + 1, len(done)))]
    scripts = {script(c) for c in around if c is not None}
    if "katakana" in scripts and script(other) not in scripts:
        return katakana
    if script(other) in scripts and "katakana" not in scripts:
        return other
    return None


def nearest(done: list[list[Choice]], order: range) -> str | None:
    """The first character in `order` that is not itself one of a look-alike pair."""
    return next((done[k][0].character for k in order if done[k][0].character not in PARTNER), None)


def resolved(found: list[Choice], preferred: str) -> list[Choice]:
    """The pair's probability shared again by the context prior alone: the picture cannot
    tell the two apart, whatever the recogniser leans to."""
    by_character = {c.character: c.probability for c in found}
    partner = PARTNER[preferred]
    total = by_character.get(preferred, 0.0) + by_character.get(partner, 0.0)
    return shared(found, preferred, partner, total)


def shared(
    found: list[Choice], first: str, second: str, total: float, share: float = CONTEXT_PRIOR
) -> list[Choice]:
    """`first` with `share` of `total`, `second` with the rest, the other choices after
    them, all most probable first."""
    rest = [c for c in found if c.character not in (first, second)]
    pair = [Choice(first, total * share), Choice(second, total * (1 - share))]
    if first == second:
        pair = pair[:1]
    ranked = sorted(pair + rest, key=lambda c: -c.probability)
    return ranked[: max(1, len(found))]


def read_picture(picture: Any, recognizer: Any, top_k: int = 5, direction: str = "auto") -> Reading:
    """A picture (path, PIL image, array) read by a `Recognizer`: its ink as `predict`
    reads a picture (`preprocess.picture.checked_ink`), each span normalised as `predict`
    normalises a picture."""
    from kanjinet.preprocess.normalize import to_uint8
    from kanjinet.preprocess.picture import checked_ink, picture_name

    def classify(crops: list[np.ndarray]) -> list[list[Choice]]:
        found = recognizer.recognize_prepared(normalize_crops(crops, recognizer.image_size), top_k)
        return [[Choice(c.character, c.probability) for c in ranked] for ranked in found]

    ink = to_uint8(checked_ink(picture))
    try:
        return read_ink(ink, classify, recognizer.calibration.sure, direction)
    except KanjinetError as error:
        raise KanjinetError(f"{picture_name(picture)}: {error}") from None


#: Pixels of one canvas batch in `normalize_crops` (bounds memory).
CANVAS_PIXELS = 1 << 22


def normalize_crops(crops: list[np.ndarray], size: int) -> np.ndarray:
    """Span crops (uint8, each its own shape) -> (N, size, size), each as `normalize`
    makes it alone, in a few calls: crops of like size share a canvas of paper.

    The same bytes: a crop has PAD (a quarter of its longer side) of paper around its
    ink, so normalize's edge zones (a sixth of the extent) hold only paper and its box is
    the ink's box; on a canvas (`canvas_side`) they still do, and normalize's results do
    not depend on where the box lies (tests/test_read.py compares both ways)."""
    from kanjinet.preprocess.normalize import normalize

    out = np.empty((len(crops), size, size), dtype=np.uint8)
    by_area = sorted(range(len(crops)), key=lambda k: (crops[k].size, k))
    for chunk in canvas_chunks([crops[k].shape for k in by_area]):
        chosen = [by_area[k] for k in chunk]
        out[chosen] = normalize(on_canvas([crops[k] for k in chosen]), size)
    return out


def canvas_chunks(shapes: list[tuple[int, int]]) -> list[range]:
    """Consecutive runs of crops (by growing area) whose shared canvas, as many as
    they are, stays within CANVAS_PIXELS (a single crop always makes one)."""
    chunks, first = [], 0
    while first < len(shapes):
        last = first + 1
        while last < len(shapes) and fits(shapes[first : last + 1]):
            last += 1
        chunks.append(range(first, last))
        first = last
    return chunks


def fits(shapes: list[tuple[int, int]]) -> bool:
    """Do these crops' canvases, all of the largest's shape, stay within CANVAS_PIXELS?"""
    height, width = (canvas_side(max(shape[axis] for shape in shapes)) for axis in (0, 1))
    return len(shapes) * height * width <= CANVAS_PIXELS


def canvas_side(extent: int) -> int:
    """The canvas side on which a crop of `extent` keeps normalize's edge zones (a sixth
    of the side, at both ends) clear of it."""
    from kanjinet.preprocess.normalize import EDGE_ZONE_DIVISOR

    side = extent
    while side - 2 * (side // EDGE_ZONE_DIVISOR) < extent:
        side += 1
    return side


def on_canvas(crops: list[np.ndarray]) -> np.ndarray:
    """Crops on paper canvases of one shape (N, H, W), each past the canvas's edge zones."""
    from kanjinet.preprocess.normalize import EDGE_ZONE_DIVISOR

    height, width = (canvas_side(max(c.shape[axis] for c in crops)) for axis in (0, 1))
    top, left = height // EDGE_ZONE_DIVISOR, width // EDGE_ZONE_DIVISOR
    canvas = np.zeros((len(crops), height, width), dtype=np.uint8)
    for slot, crop in enumerate(crops):
        canvas[slot, top : top + crop.shape[0], left : left + crop.shape[1]] = crop
    return canvas
