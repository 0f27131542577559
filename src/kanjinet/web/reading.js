// kanjinet.inference.reading (Python) in JavaScript: the path search over a segmented
// line and the rules for small kana, ー and look-alike pairs. The formulas and constants
// are reading.py's (its docstring explains them); tests/test_read_parity.py checks that
// both give the same path and the same readings for the same recogniser scores.

import { modelInput, normalizeInk } from "./preprocess.js";
import { LOOSE_BAR_THINNESS, extent, isBar, isSmall, segment, spanBox, spanCrop } from "./segment.js";

const PITCH_LOW = 0.6;
const LENGTH_HIGH = 1.1;
const PRIOR_WEIGHT = 8.0;
const PROBABILITY_FLOOR = 1e-4;
const CONTEXT_PRIOR = 0.95;
const NEIGHBOURS = 2;
const I_ROW = new Set("きぎしじちぢにひびぴみりキシチニヒミリ");
const SMALL_FORMS = Object.fromEntries(
  [..."あいうえおつやゆよわアイウエオツヤユヨワカケ"].map((c, i) => [c, [..."ぁぃぅぇぉっゃゅょゎァィゥェォッャュョヮヵヶ"][i]]),
);
const LONG_VOWEL = "ー";
const ONE = "一";
const LOOK_ALIKES = [["カ", "力"], ["エ", "工"], ["ロ", "口"], ["ニ", "二"], ["ハ", "八"],
  ["タ", "夕"], ["ト", "卜"], ["ヘ", "へ"], [LONG_VOWEL, ONE]];
const PARTNER = Object.fromEntries(LOOK_ALIKES.flatMap(([a, b]) => [[a, b], [b, a]]));

/**
 * Read the word written in ink-high pixels (Uint8Array 0..255 or 0..1 floats, row-major).
 * `classify(crops)` runs the model: crops are { input: Float32Array (1 x 1 x size x size),
 * normalized: Uint8Array, size }, and it resolves to one list per crop of
 * { character, probability } (calibrated), most probable first.
 * Resolves to { direction, text, characters: [{ box, candidates, sure }] }; `sure` is
 * whether the best candidate reaches `unsureBelow` (null when none is given).
 */
export async function readWord(grey, width, height, { direction = "auto", classify, size = 64, unsureBelow = null } = {}) {
  const cut = segment(grey, width, height, direction);
  const crops = cut.spans.map((span) => {
    const crop = spanCrop(grey, width, height, span, cut);
    const normalized = normalizeInk(crop.ink, crop.width, crop.height, size);
    return { input: modelInput(normalized), normalized, size };
  });
  const found = await classify(crops);
  return readSegmented(cut, found, unsureBelow);
}

/** reading.read_segmented: the reading of a segmented line, given every span's choices. */
export function readSegmented(cut, found, unsureBelow = null) {
  const choices = cut.spans.map((span, i) => spanChoices(cut, span, found[i]));
  const path = bestPath(cut, choices.map((c) => c[0].probability));
  const readings = inContext(path.map((i) => choices[i]), path.map((i) => cut.spans[i]), cut);
  const characters = path.map((i, k) => ({
    box: spanBox(cut.spans[i], cut.direction),
    candidates: readings[k],
    sure: unsureBelow === null ? null : readings[k][0].probability >= unsureBelow,
  }));
  return { direction: cut.direction, text: characters.map((c) => c.candidates[0].character).join(""), characters };
}

/** The recogniser's choices for a span, ー and 一 as one bar, with the upright-ー rule. */
export function spanChoices(cut, span, found) {
  found = asOneBar(found);
  if (cut.direction === "vertical" && isBar(span, cut.thickness)) {
    return found.map((c) => (c.character === ONE ? { ...c, character: LONG_VOWEL } : c));
  }
  return [...found];
}

/** Where part k begins on a path: the middle of the gap before it (reading.edge). */
/** reading.as_one_bar: ー's probability added to 一's (the line and its neighbours decide). */
function asOneBar(found) {
  if (found.every((c) => c.character !== LONG_VOWEL)) return [...found];
  const isBarChoice = (c) => c.character === LONG_VOWEL || c.character === ONE;
  const bar = found.filter(isBarChoice).reduce((sum, c) => sum + c.probability, 0);
  const rest = found.filter((c) => !isBarChoice(c));
  return [{ character: ONE, probability: bar }, ...rest].sort((a, b) => b.probability - a.probability);
}

function edge(cut, k) {
  const parts = cut.parts;
  if (k === 0) return parts.length > 1 ? parts[0][0] - (parts[1][0] - parts[0][1]) / 2 : parts[0][0];
  if (k === parts.length) return k > 1 ? parts[k - 1][1] + (parts[k - 1][0] - parts[k - 2][1]) / 2 : parts[k - 1][1];
  return (parts[k - 1][1] + parts[k][0]) / 2;
}

/** A span's score on a path (reading.span_score). */
export function spanScore(cut, span, probability) {
  const room = edge(cut, span.last + 1) - edge(cut, span.first); // < 0 where parts overlap
  const pitch = Math.max(room, 1.0) / cut.thickness;
  const length = (span.stop - span.start) / cut.thickness;
  const fit = pitch * Math.log(Math.max(probability, PROBABILITY_FLOOR));
  const short = Math.max(0, Math.log(PITCH_LOW / pitch));
  const long = Math.max(0, Math.log(length / LENGTH_HIGH));
  return fit - PRIOR_WEIGHT * (short * short + long * long);
}

/** The spans (indices) of the highest-scoring path; ties keep the path found first. */
export function bestPath(cut, probabilities) {
  const count = cut.parts.length;
  const best = new Array(count + 1).fill(-Infinity);
  const cameBy = new Array(count + 1).fill(-1);
  best[0] = 0;
  cut.spans.forEach((span, index) => {
    const score = best[span.first] + spanScore(cut, span, probabilities[index]);
    if (score > best[span.last + 1]) {
      best[span.last + 1] = score;
      cameBy[span.last + 1] = index;
    }
  });
  const path = [];
  for (let at = count; at > 0; at = cut.spans[cameBy[at]].first) path.push(cameBy[at]);
  return path.reverse();
}

function script(character) {
  const code = character.codePointAt(0);
  if (code >= 0x3041 && code <= 0x309f) return "hiragana";
  if (code >= 0x30a0 && code <= 0x30ff) return "katakana";
  if ((code >= 0x4e00 && code <= 0x9fff) || character === "々") return "kanji";
  return "other";
}

/** Look-alike pairs decided by the neighbours, left to right (reading.in_context). */
function inContext(choices, spans, cut) {
  const done = [];
  choices.forEach((found, i) => done.push(smallForms(found, spans, i, cut, i ? done[i - 1][0].character : "")));
  done.forEach((found, i) => {
    const top = found[0].character;
    const bar = cut.direction === "horizontal" && isBar(spans[i], cut.thickness, LOOSE_BAR_THINNESS);
    if (bar && top === ONE) {
      if (lengthens(done, i)) done[i] = shared(found, LONG_VOWEL, ONE, found[0].probability);
    } else if (top in PARTNER && top !== LONG_VOWEL && top !== ONE) {
      const preferred = contextChoice(done, i);
      if (preferred !== null) done[i] = resolved(found, preferred);
    }
  });
  return done;
}

/** Kana in their small form where small in the band of their neighbours (reading.small_forms). */
function smallForms(found, spans, i, cut, before) {
  const around = [...spans.slice(Math.max(0, i - NEIGHBOURS), i), ...spans.slice(i + 1, i + 1 + NEIGHBOURS)]
    .filter((s) => !isBar(s, cut.thickness));
  const top = around.length ? Math.min(...around.map((s) => s.top)) : cut.lineTop;
  const bottom = around.length ? Math.max(...around.map((s) => s.bottom)) : cut.lineTop + cut.thickness - 1;
  if (!before || (script(before) !== "hiragana" && script(before) !== "katakana")) return [...found];
  const anywhere = I_ROW.has(before) && "やゆよヤユヨ".includes(found[0].character);
  const size = around.length ? Math.max(...around.map(extent)) : cut.thickness;
  if (!isSmall(spans[i], top, bottom - top + 1, size, anywhere)) return [...found];
  return found.map((c) => ({ ...c, character: SMALL_FORMS[c.character] ?? c.character }));
}

/** A horizontal bar is ー after katakana, or after hiragana at the end or before katakana. */
function lengthens(done, i) {
  const before = i ? script(done[i - 1][0].character) : "other";
  const after = i + 1 < done.length ? script(done[i + 1][0].character) : "end";
  return before === "katakana" || (before === "hiragana" && (after === "end" || after === "katakana"));
}

function contextChoice(done, i) {
  const top = done[i][0].character;
  const katakana = script(top) === "katakana" ? top : PARTNER[top];
  const other = PARTNER[katakana];
  const before = nearest(done, i - 1, -1), after = nearest(done, i + 1, 1);
  const scripts = new Set([before, after].filter((c) => c !== null).map(script));
  if (scripts.has("katakana") && !scripts.has(script(other))) return katakana;
  if (scripts.has(script(other)) && !scripts.has("katakana")) return other;
  return null;
}

function nearest(done, from, step) {
  for (let k = from; k >= 0 && k < done.length; k += step) {
    if (!(done[k][0].character in PARTNER)) return done[k][0].character;
  }
  return null;
}

function resolved(found, preferred) {
  const byCharacter = Object.fromEntries(found.map((c) => [c.character, c.probability]));
  const partner = PARTNER[preferred];
  return shared(found, preferred, partner, (byCharacter[preferred] ?? 0) + (byCharacter[partner] ?? 0));
}

function shared(found, first, second, total, share = CONTEXT_PRIOR) {
  const rest = found.filter((c) => c.character !== first && c.character !== second);
  let pair = [{ character: first, probability: total * share }, { character: second, probability: total * (1 - share) }];
  if (first === second) pair = pair.slice(0, 1);
  const ranked = [...pair, ...rest].sort((a, b) => b.probability - a.probability);
  return ranked.slice(0, Math.max(1, found.length));
}
