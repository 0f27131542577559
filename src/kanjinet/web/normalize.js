// kanjinet/preprocess/normalize.py step by step in JavaScript, bit-exact.
//
// The recipe is in src/kanjinet/preprocess/normalize.py's docstring; the step numbers below are
// its steps. Python does the resampling sums in float32 (numpy), so every float32
// operation here is rounded with Math.fround at the same place: a float32 +, -, * or /
// computed in float64 and rounded once gives the same float32 as numpy does.
// tests/test_preprocess_parity.py checks this file against Python on shared vectors.
// Works in browsers and in node (an ES module with no DOM use).
import { RECIPE as PICTURE_RECIPE } from "./picture_ink.js";
import { RECIPE as STROKE_WIDTH_RECIPE, thinStrokes } from "./stroke_width.js";

const PAPER_FLOOR = 32;
const INK_THRESHOLD = 80;
const MIN_NEIGHBOURS = 3;
const EDGE_ZONE_DIVISOR = 6;
const EDGE_FRAGMENT_FRACTION = 0.25;

/** normalize.NORMALIZATION as implemented here; a model recorded with another recipe is flagged. */
export const NORMALIZATION = Object.freeze({
  name: "kanjinet.normalize",
  version: 3,
  input: "ink high; uint8/int 0..255, float 0..1, bool; ETL9G levels x 17",
  paper_floor: PAPER_FLOOR,
  ink_threshold: INK_THRESHOLD,
  noise_removal: `3x3 neighbourhood holds >= ${MIN_NEIGHBOURS} mask pixels`,
  edge_zone: `extent // ${EDGE_ZONE_DIVISOR}`,
  edge_fragment_fraction: EDGE_FRAGMENT_FRACTION,
  crop: "ink bounding box, aspect kept, centred in a square",
  margin: "max(1, size // 16)",
  resample: "area (exact box filter)",
  contrast: "max -> 255, round half up",
  output: "uint8 size x size, 0 paper .. 255 ink",
  stroke_width: STROKE_WIDTH_RECIPE,
  picture: PICTURE_RECIPE,
});

const f32 = Math.fround;

/** The blank border (pixels) left around the character at an output size. */
export function marginFor(size) {
  return Math.max(1, Math.floor(size / 16));
}

/** normalize.earlier_recipes: version 2 (no "picture"), version 1 (no "stroke_width" either). */
function earlierRecipes() {
  const { picture: _picture, ...version2 } = NORMALIZATION;
  const { stroke_width: _strokeWidth, ...version1 } = version2;
  return [{ ...version2, version: 2 }, { ...version1, version: 1 }];
}

/** normalize.is_current_recipe: a model's recorded recipe is this one, an earlier one it reads alike, or unrecorded. */
export function isSupportedNormalization(recipe) {
  if (!recipe) return true;
  return [NORMALIZATION, ...earlierRecipes()].some((known) => {
    const keys = new Set([...Object.keys(recipe), ...Object.keys(known)]);
    return [...keys].every((key) => recipe[key] === known[key]);
  });
}

/** Step 1: ink-high pixels -> uint8 0..255. Uint8 as is, floats 0..1 as numpy rounds them. */
export function toUint8(ink) {
  if (ink instanceof Uint8Array || ink instanceof Uint8ClampedArray) return ink;
  const out = new Uint8Array(ink.length);
  // numpy keeps float32 arithmetic in float32 (clip * 255 + 0.5), float64 in float64.
  const round = ink instanceof Float32Array ? (x) => f32(f32(x * 255) + 0.5) : (x) => x * 255 + 0.5;
  for (let i = 0; i < ink.length; i++) {
    const x = Math.min(Math.max(ink[i], 0), 1);
    out[i] = Math.floor(round(x));
  }
  return out;
}

/** Step 3: the ink mask with isolated specks removed (3 x 3 neighbourhood count). */
export function inkMask(u, width, height) {
  const mask = new Uint8Array(u.length);
  for (let i = 0; i < u.length; i++) mask[i] = u[i] >= INK_THRESHOLD ? 1 : 0;
  const kept = new Uint8Array(u.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      let count = 0;
      for (let yy = Math.max(0, y - 1); yy <= Math.min(height - 1, y + 1); yy++) {
        for (let xx = Math.max(0, x - 1); xx <= Math.min(width - 1, x + 1); xx++) count += mask[yy * width + xx];
      }
      kept[y * width + x] = count >= MIN_NEIGHBOURS ? 1 : 0;
    }
  }
  return kept;
}

/** Row and column profiles (kept mask pixels per line), counted inside a box only. */
function profiles(mask, width, height, [top, bottom, left, right] = [0, height - 1, 0, width - 1]) {
  const rows = new Int32Array(height);
  const cols = new Int32Array(width);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const m = mask[y * width + x];
      if (x >= left && x <= right) rows[y] += m;
      if (y >= top && y <= bottom) cols[x] += m;
    }
  }
  return [rows, cols];
}

/**
 * Step 4: [top, bottom, left, right] in two rounds: round 2 counts each axis' profile
 * inside the other axis' round-1 band, so a fragment cut off on one axis does not
 * widen the other.
 */
export function findBox(mask, width, height) {
  const [rows, cols] = profiles(mask, width, height);
  const band = [...findExtent(rows), ...findExtent(cols)];
  const [rows2, cols2] = profiles(mask, width, height, band);
  return [...findExtent(rows2), ...findExtent(cols2)];
}

/** Step 4 on one axis: [first, last] inked line, dropping small edge fragments; [0, -1] if none. */
export function findExtent(profile) {
  const extent = profile.length;
  const zone = Math.floor(extent / EDGE_ZONE_DIVISOR);
  const cumulative = new Float64Array(extent);
  let total = 0;
  for (let i = 0; i < extent; i++) cumulative[i] = total += profile[i];
  const allowed = total * EDGE_FRAGMENT_FRACTION;
  let start = 0;
  for (let g = zone - 1; g >= 0; g--) {
    if (profile[g] === 0) {
      if (cumulative[g] <= allowed) start = g + 1;
      break;
    }
  }
  let stop = extent - 1;
  for (let g = extent - zone; g < extent; g++) {
    if (profile[g] === 0) {
      if (total - cumulative[g - 1] <= allowed) stop = g - 1;
      break;
    }
  }
  let first = -1;
  let last = -1;
  for (let i = start; i <= stop; i++) {
    if (profile[i] > 0) {
      if (first < 0) first = i;
      last = i;
    }
  }
  return first < 0 ? [0, -1] : [first, last];
}

/** Steps 5-6 on one axis: source coordinates p_0..p_size (float64), clipped to the box. */
function boundaries(first, last, side, size) {
  const margin = marginFor(size);
  const inner = size - 2 * margin;
  const origin = first - (side - (last - first + 1)) / 2;
  const scale = side / inner;
  const coords = new Float64Array(size + 1);
  for (let k = 0; k <= size; k++) {
    const step = Math.min(Math.max(k - margin, 0), inner);
    coords[k] = Math.min(Math.max(origin + step * scale, first), last + 1);
  }
  return coords;
}

/**
 * Step 6 along one axis, in float32 like numpy: `lines` lines of `count` values each,
 * value (line, k) at values[line * lineStride + k * kStride]. Returns (size, count).
 */
function resampleAxis(values, lines, count, lineStride, kStride, coords) {
  const size = coords.length - 1;
  const line = Int32Array.from(coords, (q) => Math.min(Math.floor(q), lines - 1));
  const frac = Float32Array.from(coords, (q, k) => q - line[k]);
  const running = new Float32Array(lines + 1);
  const integral = new Float32Array(size + 1);
  const out = new Float32Array(size * count);
  for (let k = 0; k < count; k++) {
    const base = k * kStride;
    for (let i = 0; i < lines; i++) running[i + 1] = running[i] + values[base + i * lineStride];
    for (let j = 0; j <= size; j++) {
      integral[j] = running[line[j]] + f32(frac[j] * values[base + line[j] * lineStride]);
    }
    for (let j = 0; j < size; j++) out[j * count + k] = integral[j + 1] - integral[j];
  }
  return out;
}

/** Step 7: the strongest pixel -> 255, round half up, in float32 like numpy. */
function stretchContrast(sums) {
  let peak = 0;
  for (const v of sums) peak = Math.max(peak, v);
  const out = new Uint8Array(sums.length);
  if (peak <= 0) return out;
  const factor = f32(255 / peak);
  for (let i = 0; i < sums.length; i++) {
    out[i] = Math.min(255, Math.max(0, Math.floor(f32(f32(sums[i] * factor) + 0.5))));
  }
  return out;
}

/**
 * normalize.normalize for one image: ink-high pixels (row-major, width x height;
 * Uint8Array 0..255 or Float32Array 0..1) -> Uint8Array size x size, 0 paper .. 255 ink.
 */
export function normalizeInk(ink, width, height, size = 64) {
  if (ink.length !== width * height) throw new Error(`ink has ${ink.length} pixels, not ${width}x${height}`);
  if (size < 8) throw new Error(`output size ${size}: must be at least 8`);
  const u = toUint8(ink);
  const [top, bottom, left, right] = findBox(inkMask(u, width, height), width, height);
  if (bottom < top) return new Uint8Array(size * size); // no ink: paper
  // Step 2: v = u above the paper floor, and 0 outside the box, so the float32 running
  // sums of pass 2 start from exact zeros as Python's do.
  const values = new Float32Array(width * height);
  for (let y = top; y <= bottom; y++) {
    for (let x = left; x <= right; x++) {
      const v = u[y * width + x];
      values[y * width + x] = v >= PAPER_FLOOR ? v : 0;
    }
  }
  const side = Math.max(bottom - top + 1, right - left + 1);
  // Rows first: (height, width) -> (size, width); then columns: -> (size cols, size rows).
  const rows = resampleAxis(values, height, width, width, 1, boundaries(top, bottom, side, size));
  const cols = resampleAxis(rows, width, size, 1, width, boundaries(left, right, side, size));
  // Footprint sums, not means: step 7 cancels the constant 1 / s^2, so Python skips it too.
  const sums = new Float32Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) sums[y * size + x] = cols[x * size + y];
  }
  return thinStrokes(stretchContrast(sums), size);
}
