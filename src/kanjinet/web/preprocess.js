// kanjinet.preprocess.normalize (Python) step by step in JavaScript, bit-exact.
//
// The recipe is in src/kanjinet/preprocess/normalize.py's docstring; the step numbers below are
// its steps. Python does the resampling sums in float32 (numpy), so every float32
// operation here is rounded with Math.fround at the same place: a float32 +, -, * or /
// computed in float64 and rounded once gives the same float32 as numpy does.
// tests/test_preprocess_parity.py checks this file against Python on shared vectors.
// Works in browsers and in node (an ES module with no DOM use).

const PAPER_FLOOR = 32;
const INK_THRESHOLD = 80;
const MIN_NEIGHBOURS = 3;
const EDGE_ZONE_DIVISOR = 6;
const EDGE_FRAGMENT_FRACTION = 0.25;
const STROKE_MASK_LEVEL = 128; // preprocess/stroke_width.py
const THICK_DISTANCE = 2;
const REFERENCE_SIZE = 64;

/** normalize.NORMALIZATION as implemented here; a model recorded with another recipe is flagged. */
export const NORMALIZATION = Object.freeze({
  name: "kanjinet.normalize",
  version: 2,
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
  stroke_width:
    `size // ${REFERENCE_SIZE} grey 3x3 erosions, then max -> 255 in integers, where the ` +
    `mean chessboard distance to paper of the >= ${STROKE_MASK_LEVEL} mask is >= ` +
    `${THICK_DISTANCE} x size / ${REFERENCE_SIZE}`,
});

const f32 = Math.fround;

/** The blank border (pixels) left around the character at an output size. */
export function marginFor(size) {
  return Math.max(1, Math.floor(size / 16));
}

/** True when a model's recorded normalisation is the one this file implements (or unrecorded). */
export function isSupportedNormalization(recipe) {
  if (!recipe) return true;
  // normalize.is_current_recipe: version 1 is this recipe without step 8 (stroke width).
  const { stroke_width: _, ...previous } = NORMALIZATION;
  const expected = recipe.version === 1 ? { ...previous, version: 1 } : NORMALIZATION;
  const keys = new Set([...Object.keys(recipe), ...Object.keys(expected)]);
  return [...keys].every((key) => recipe[key] === expected[key]);
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

/** Ink from the writing pad (dark strokes on white): 255 - the RGB channel mean, uint8. */
export function inkFromPad(rgba, width, height) {
  const ink = new Uint8Array(width * height);
  for (let i = 0; i < ink.length; i++) {
    ink[i] = 255 - Math.round((rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3);
  }
  return ink;
}

/** normalize.MAX_PICTURE_PIXELS and MAX_PICTURE_SIDE: refused above, averaged down to. */
export const MAX_PICTURE_PIXELS = 64_000_000;
export const MAX_PICTURE_SIDE = 1024;
/** normalize.MAX_PICTURE_ASPECT: a picture longer than this many times its width is a strip. */
export const MAX_PICTURE_ASPECT = 64;

/**
 * Why a picture of this size cannot hold one character (recognizer.check_picture_size's
 * rule, the size limit aside): fewer than 2 pixels across, or a thin strip. Null if none.
 */
export function pictureShapeProblem(width, height) {
  if (Math.min(width, height) < 2) return `${width}x${height} pixels, too small for a character`;
  if (Math.max(width, height) > MAX_PICTURE_ASPECT * Math.min(width, height)) {
    return `${width}x${height} pixels, a strip more than ${MAX_PICTURE_ASPECT} times longer than wide, not a picture of one character`;
  }
  return null;
}

/**
 * normalize.shrink_picture: an RGBA picture whose longer side exceeds MAX_PICTURE_SIDE,
 * averaged over f x f blocks (f the smallest integer bringing it within; rows and columns
 * past the last whole block dropped), each channel's mean rounded half up, in integers.
 * Returns { rgba, width, height }: the same arrays when the picture is small enough.
 */
export function shrinkPicture(rgba, width, height) {
  const factor = Math.ceil(Math.max(width, height) / MAX_PICTURE_SIDE);
  if (factor <= 1) return { rgba, width, height };
  const cols = Math.floor(width / factor);
  const rows = Math.floor(height / factor);
  const area = factor * factor;
  const half = Math.floor(area / 2);
  const out = new Uint8ClampedArray(rows * cols * 4);
  const sums = new Float64Array(cols * 4); // integer sums, exact in float64
  for (let r = 0; r < rows; r++) {
    sums.fill(0);
    for (let y = r * factor; y < (r + 1) * factor; y++) {
      for (let x = 0; x < cols * factor; x++) {
        const from = 4 * (y * width + x);
        const to = 4 * Math.floor(x / factor);
        for (let c = 0; c < 4; c++) sums[to + c] += rgba[from + c];
      }
    }
    for (let i = 0; i < cols * 4; i++) out[4 * r * cols + i] = Math.floor((sums[i] + half) / area);
  }
  return { rgba: out, width: cols, height: rows };
}

/** normalize.MIN_INK_CONTRAST: fewer grey levels between ink and paper is a blank picture. */
export const MIN_INK_CONTRAST = 16;

/**
 * normalize.ink_from_picture: an RGBA picture -> float32 ink 0..1, polarity detected.
 * The paper is the median of the outer 1-pixel frame; alpha as in flattenAlpha.
 */
export function inkFromPicture(rgba, width, height) {
  const picture = paperRelativeInk(rgba, width, height);
  const ink = new Float32Array(picture.length);
  const strongest = maxOf(picture);
  if (strongest <= 0) return ink;
  for (let i = 0; i < picture.length; i++) ink[i] = Math.min(Math.max(picture[i] / strongest, 0), 1);
  return ink;
}

/** normalize.ink_contrast: the strongest ink above the paper, grey levels 0..255. */
export function inkContrast(rgba, width, height) {
  return Math.max(0, maxOf(paperRelativeInk(rgba, width, height)));
}

/** normalize.paper_relative_ink: ink above the paper (grey levels), polarity detected. */
function paperRelativeInk(rgba, width, height) {
  if (width < 2 || height < 2) throw new Error(`picture of ${width}x${height}: too small`);
  const picture = flattenAlpha(rgba, width, height);
  let low = Infinity;
  let high = -Infinity;
  for (const v of picture) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const paper = median(frameValues(picture, width, height));
  const darkOnLight = paper - low >= high - paper;
  if (!darkOnLight) for (let i = 0; i < picture.length; i++) picture[i] = 255 - picture[i];
  return evenLightInk(picture, width, height);
}

// normalize.LIGHT_*: the paper's light estimated at a large scale (see preprocess/normalize.py).
const LIGHT_SAMPLE_SIDE = 256;
const LIGHT_CELLS = 32;
const LIGHT_RANK = [3, 4];
const LIGHT_CLOSING = 2;

/**
 * normalize.even_light_ink, in place: ink = (P - x) * max(P) / max(P, 1), P the paper's
 * light at each pixel of a light-paper picture (Float64Array, row-major).
 */
function evenLightInk(light, width, height) {
  const step = Math.max(1, Math.floor(Math.max(height, width) / LIGHT_SAMPLE_SIDE));
  const sampledRows = Math.ceil(height / step);
  const sampledCols = Math.ceil(width / step);
  const cell = Math.max(2, Math.ceil(Math.max(sampledRows, sampledCols) / LIGHT_CELLS));
  const rows = Math.ceil(sampledRows / cell);
  const cols = Math.ceil(sampledCols / cell);
  let grid = cellLevels(light, width, step, sampledRows, sampledCols, cell, rows, cols);
  grid = windowExtreme(windowExtreme(grid, rows, cols, LIGHT_CLOSING, Math.max), rows, cols, LIGHT_CLOSING, Math.min);
  const brightest = maxOf(grid);
  const across = interpolation(height, step, cell, rows);
  const down = interpolation(width, step, cell, cols);
  const band = new Float64Array(cols); // the grid interpolated to one pixel row
  for (let y = 0; y < height; y++) {
    const { low, high, frac } = across;
    for (let c = 0; c < cols; c++) {
      band[c] = grid[low[y] * cols + c] * (1 - frac[y]) + grid[high[y] * cols + c] * frac[y];
    }
    for (let x = 0; x < width; x++) {
      const paper = band[down.low[x]] * (1 - down.frac[x]) + band[down.high[x]] * down.frac[x];
      const i = y * width + x;
      light[i] = ((paper - light[i]) * brightest) / Math.max(paper, 1);
    }
  }
  return light;
}

/** normalize.cell_levels: per cell of samples (every step-th pixel), its LIGHT_RANK quantile. */
function cellLevels(light, width, step, sampledRows, sampledCols, cell, rows, cols) {
  const grid = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const values = [];
      for (let sy = r * cell; sy < Math.min((r + 1) * cell, sampledRows); sy++) {
        for (let sx = c * cell; sx < Math.min((c + 1) * cell, sampledCols); sx++) {
          values.push(light[sy * step * width + sx * step]);
        }
      }
      const sorted = Float64Array.from(values).sort();
      grid[r * cols + c] = sorted[Math.floor((LIGHT_RANK[0] * (sorted.length - 1)) / LIGHT_RANK[1])];
    }
  }
  return grid;
}

/** normalize.window_extreme: max or min over a (2r+1)^2 square, edges clipped; separable. */
function windowExtreme(grid, rows, cols, radius, pick) {
  const down = extremeAlong(grid, cols, 1, rows, cols, radius, pick); // along each column
  return extremeAlong(down, rows, cols, cols, 1, radius, pick); // then along each row
}

/** max or min within +-radius along `count` values of each of `lines` lines (strides given). */
function extremeAlong(grid, lines, lineStride, count, stride, radius, pick) {
  const out = new Float64Array(grid.length);
  for (let line = 0; line < lines; line++) {
    const base = line * lineStride;
    for (let i = 0; i < count; i++) {
      let value = grid[base + i * stride];
      for (let j = Math.max(0, i - radius); j <= Math.min(count - 1, i + radius); j++) value = pick(value, grid[base + j * stride]);
      out[base + i * stride] = value;
    }
  }
  return out;
}

/** normalize.interpolate's positions: per pixel, the cells below and above and the weight. */
function interpolation(extent, step, cell, count) {
  const low = new Int32Array(extent);
  const high = new Int32Array(extent);
  const frac = new Float64Array(extent);
  for (let y = 0; y < extent; y++) {
    const position = Math.min(Math.max((y / step - (cell - 1) / 2) / cell, 0), count - 1);
    low[y] = Math.floor(position);
    high[y] = Math.min(low[y] + 1, count - 1);
    frac[y] = position - low[y];
  }
  return { low, high, frac };
}

/** picture_ink.CROP_PAD: paper kept around a found character, of its longer side. */
const CROP_PAD = [1, 4];

/**
 * picture_ink.crop_to_character: an RGBA picture longer than MAX_PICTURE_SIDE, cut to
 * its character (found at full resolution) with a quarter of its longer side of paper
 * around it. Returns { rgba, width, height }: the same arrays when nothing is cut.
 */
export function cropToCharacter(rgba, width, height) {
  if (Math.max(width, height) <= MAX_PICTURE_SIDE) return { rgba, width, height };
  const u = toUint8(inkFromPicture(rgba, width, height));
  const [top, bottom, left, right] = findBox(inkMask(u, width, height), width, height);
  if (bottom < top) return { rgba, width, height };
  const pad = Math.floor((Math.max(bottom - top + 1, right - left + 1) * CROP_PAD[0]) / CROP_PAD[1]);
  const y0 = Math.max(0, top - pad);
  const y1 = Math.min(height, bottom + pad + 1);
  const x0 = Math.max(0, left - pad);
  const x1 = Math.min(width, right + pad + 1);
  const out = new Uint8ClampedArray((y1 - y0) * (x1 - x0) * 4);
  for (let y = y0; y < y1; y++) out.set(rgba.subarray(4 * (y * width + x0), 4 * (y * width + x1)), 4 * (y - y0) * (x1 - x0));
  return { rgba: out, width: x1 - x0, height: y1 - y0 };
}

function maxOf(values) {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  return max;
}

/**
 * normalize.flatten_alpha: RGBA -> grey 0..255. A mostly transparent outer frame means
 * a transparent layer, not paper: what is opaque is ink, whatever its colour, so
 * grey = 255 - alpha. Otherwise semi-transparent pixels are composited onto white.
 */
function flattenAlpha(rgba, width, height) {
  const count = width * height;
  const alpha = new Float64Array(count);
  for (let i = 0; i < count; i++) alpha[i] = rgba[4 * i + 3];
  const layer = median(frameValues(alpha, width, height)) < 128;
  const picture = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    if (layer) {
      picture[i] = 255 - alpha[i];
    } else {
      const opacity = alpha[i] / 255;
      const mean = (rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3;
      picture[i] = mean * opacity + 255 * (1 - opacity);
    }
  }
  return picture;
}

function frameValues(picture, width, height) {
  const values = [];
  for (let x = 0; x < width; x++) values.push(picture[x], picture[(height - 1) * width + x]);
  for (let y = 1; y < height - 1; y++) values.push(picture[y * width], picture[y * width + width - 1]);
  return values;
}

function median(values) {
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
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

/** stroke_width.erode: the 3 x 3 minimum of a size x size image, outside the image 0. */
function erode(image, size) {
  const out = new Uint8Array(size * size);
  for (let y = 1; y < size - 1; y++) {
    for (let x = 1; x < size - 1; x++) {
      let low = 255;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) low = Math.min(low, image[(y + dy) * size + x + dx]);
      }
      out[y * size + x] = low;
    }
  }
  return out;
}

/**
 * Step 8, stroke_width.thin_strokes for one normalised image: where the ink mask's mean
 * chessboard distance to paper is >= THICK_DISTANCE x size / 64, size // 64 3 x 3 erosions
 * and contrast again in integers; otherwise the image itself. Integer arithmetic: the
 * bytes Python gives.
 */
export function thinStrokes(image, size) {
  const erosions = Math.floor(size / REFERENCE_SIZE);
  if (erosions === 0) return image;
  let mask = Uint8Array.from(image, (v) => (v >= STROKE_MASK_LEVEL ? 1 : 0));
  let area = mask.reduce((a, v) => a + v, 0);
  const first = area;
  let total = 0;
  while (area > 0) {
    total += area;
    mask = erode(mask, size);
    area = mask.reduce((a, v) => a + v, 0);
  }
  if (first === 0 || REFERENCE_SIZE * total < THICK_DISTANCE * size * first) return image;
  let eroded = image;
  for (let i = 0; i < erosions; i++) eroded = erode(eroded, size);
  const peak = eroded.reduce((a, v) => Math.max(a, v), 0);
  if (peak === 0) return eroded;
  return eroded.map((v) => Math.floor((510 * v + peak) / (2 * peak)));
}

/** The model's input tensor data: float32 (1, 1, size, size) = uint8 / 255, ink = 1. */
export function modelInput(normalized) {
  return Float32Array.from(normalized, (v) => v / 255);
}
