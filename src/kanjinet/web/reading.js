// kanjinet.inference.reading (Python) in JavaScript: the path search over a segmented
// line and the rules for small kana, ー and look-alike pairs. The formulas and constants
// are reading.py's (its docstring explains them); tests/test_read_parity.py checks that
// both give the same path and the same readings for the same recogniser scores.

import { modelInput, normalizeInk, toUint8 } from "./preprocess.js";
import { LOOSE_BAR_THINNESS, extent, isBar, isSmall, segment, spanBox, spanCrop } from "./segment.js";

const PITCH_LOW = 0.6;
const LENGTH_HIGH = 1.1;
const PRIOR_WEIGHT = 8.0;
const PRIOR_LIMIT = 1.0;
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
  ["タ", "夕"], ["ト", "卜"], ["ヘ", "へ"], ["ベ", "べ"], ["ペ", "ぺ"], [LONG_VOWEL, ONE]];
const PARTNER = Object.fromEntries(LOOK_ALIKES.flatMap(([a, b]) => [[a, b], [b, a]]));

/**
 * Read the word written in ink-high pixels (Uint8Array 0..255 or 0..1 floats, row-major).
 * `classify(crops)` runs the model: crops are { input: Float32Array (1 x 1 x size x size),
 * normalized: Uint8Array, size }, and it resolves to one list per crop of
 * { character, probability } (calibrated), most probable first; it is called once, with
 * every span the shape prior leaves (reading.likely_spans) that `remembered` lacks.
 * `remembered`: a Map the caller keeps from one reading to the next (the pad read again
 * after each stroke): the recogniser's choices for each crop by its pixels, so a span
 * whose crop did not change is neither normalised nor classified again; afterwards it
 * holds this reading's crops only.
 * Resolves to { direction, text, characters: [{ box, candidates, sure }] }; `sure` is
 * whether the best candidate reaches `unsureBelow` (null when none is given).
 */
export async function readWord(grey, width, height, { direction = "auto", classify, size = 64, unsureBelow = null, remembered = new Map() } = {}) {
  const u = toUint8(grey); // once: every crop is cut from it
  const cut = likelySpans(segment(u, width, height, direction));
  const crops = cut.spans.map((span) => spanCrop(u, width, height, span, cut));
  const keys = crops.map(cropKey);
  const seen = new Set(remembered.keys());
  const fresh = keys.flatMap((key, i) => (seen.has(key) ? [] : (seen.add(key), [i]))); // each new crop once
  const found = fresh.length ? await classify(fresh.map((i) => modelCrop(crops[i], size))) : [];
  const known = new Map(fresh.map((i, k) => [keys[i], found[k]]));
  for (const key of keys) if (!known.has(key)) known.set(key, remembered.get(key));
  remembered.clear();
  known.forEach((choices, key) => remembered.set(key, choices));
  return readSegmented(cut, keys.map((key) => known.get(key)), unsureBelow);
}

/** A crop's shape and pixels as one string: what its choices are remembered by. */
function cropKey(crop) {
  return `${crop.width}x${crop.height}:${new TextDecoder("latin1").decode(crop.ink)}`;
}

/** A crop as classify takes it: normalised, and as the model's input. */
function modelCrop(crop, size) {
  const normalized = normalizeInk(crop.ink, crop.width, crop.height, size);
  return { input: modelInput(normalized), normalized, size };
}

/** reading.likely_spans: without the spans the shape prior alone rules out (keeping a path). */
export function likelySpans(cut) {
  let kept = cut.spans.filter((span) => prior(cut, span) <= PRIOR_LIMIT);
  if (!spansCover(cut, kept)) {
    const likely = new Set(kept);
    kept = cut.spans.filter((span) => span.first === span.last || likely.has(span));
  }
  return { ...cut, spans: kept };
}

function spansCover(cut, spans) {
  const reached = new Set([0]);
  for (const span of spans) if (reached.has(span.first)) reached.add(span.last + 1);
  return reached.has(cut.parts.length);
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

/** reading.as_one_bar: ー's probability added to 一's (the line and its neighbours decide). */
function asOneBar(found) {
  if (found.every((c) => c.character !== LONG_VOWEL)) return [...found];
  const isBarChoice = (c) => c.character === LONG_VOWEL || c.character === ONE;
  const bar = found.filter(isBarChoice).reduce((sum, c) => sum + c.probability, 0);
  const rest = found.filter((c) => !isBarChoice(c));
  return [{ character: ONE, probability: bar }, ...rest].sort((a, b) => b.probability - a.probability);
}

/** Where part k begins on a path: the middle of the gap before it (reading.edge). */
function edge(cut, k) {
  const parts = cut.parts;
  if (k === 0) return parts.length > 1 ? parts[0][0] - (parts[1][0] - parts[0][1]) / 2 : parts[0][0];
  if (k === parts.length) return k > 1 ? parts[k - 1][1] + (parts[k - 1][0] - parts[k - 2][1]) / 2 : parts[k - 1][1];
  return (parts[k - 1][1] + parts[k][0]) / 2;
}

/** A span's score on a path (reading.span_score). */
export function spanScore(cut, span, probability) {
  return pitch(cut, span) * Math.log(Math.max(probability, PROBABILITY_FLOOR)) - prior(cut, span);
}

/** The room a span takes in the line, over the line's thickness (reading.pitch). */
function pitch(cut, span) {
  const room = edge(cut, span.last + 1) - edge(cut, span.first); // < 0 where parts overlap
  return Math.max(room, 1.0) / cut.thickness;
}

/** The shape prior's cost of a span (reading.prior). */
function prior(cut, span) {
  const short = Math.max(0, Math.log(PITCH_LOW / pitch(cut, span)));
  const long = Math.max(0, Math.log((span.stop - span.start) / cut.thickness / LENGTH_HIGH));
  return PRIOR_WEIGHT * (short * short + long * long);
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
