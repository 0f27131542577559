// kanjinet/preprocess/picture_ink.py in JavaScript: a picture's pixels -> its ink (grey,
// polarity from the paper around the character, even light, contrast), float64 like
// numpy, so the ink is the same to the last bit (tests/test_preprocess_parity.py).

/** picture_ink.MIN_INK_CONTRAST: fewer grey levels between ink and paper is a blank picture. */
export const MIN_INK_CONTRAST = 16;

// picture_ink.LIGHT_* and HEAVY_INK_SHARE: the paper's light estimated at a large scale.
const LIGHT_SAMPLE_SIDE = 256;
const LIGHT_CELLS = 32;
const LIGHT_RANK = [3, 4];
const LIGHT_CLOSING = 2;
const HEAVY_INK_SHARE = [1, 2];

/** picture_ink.RECIPE: the steps as data, inside normalize.js NORMALIZATION. */
export const RECIPE =
  "grey = mean of R, G, B; paper = median of the outer frame, dark paper inverted; " +
  `paper light = ${LIGHT_RANK[0]}/${LIGHT_RANK[1]} quantile of about ${LIGHT_CELLS} cells ` +
  `a side, closed by ${LIGHT_CLOSING} cells, cells under ${HEAVY_INK_SHARE[0]}/` +
  `${HEAVY_INK_SHARE[1]} of the paper enclosing them given the paper next to them; ` +
  "ink = (paper - x) * max(paper) / paper, max -> 1";

/**
 * picture_ink.picture_ink: an RGBA picture -> { ink: Float32Array 0..1 (the strongest
 * 1.0, paper 0), contrast: the strongest ink's grey levels above the paper }.
 */
export function pictureInk(rgba, width, height) {
  const relative = paperRelativeInk(rgba, width, height);
  const ink = new Float32Array(relative.length);
  const strongest = maxOf(relative);
  if (strongest <= 0) return { ink, contrast: 0 };
  for (let i = 0; i < relative.length; i++) ink[i] = Math.min(Math.max(relative[i] / strongest, 0), 1);
  return { ink, contrast: strongest };
}

/** picture_ink.ink_from_picture: the ink of pictureInk. */
export function inkFromPicture(rgba, width, height) {
  return pictureInk(rgba, width, height).ink;
}

/** picture_ink.ink_contrast: the contrast of pictureInk. */
export function inkContrast(rgba, width, height) {
  return pictureInk(rgba, width, height).contrast;
}

/** Ink from the writing pad (dark strokes on white): 255 - the RGB channel mean, uint8. */
export function inkFromPad(rgba, width, height) {
  const ink = new Uint8Array(width * height);
  for (let i = 0; i < ink.length; i++) {
    ink[i] = 255 - Math.round((rgba[4 * i] + rgba[4 * i + 1] + rgba[4 * i + 2]) / 3);
  }
  return ink;
}

/** picture_ink.paper_relative_ink: ink above the paper (grey levels), polarity from the frame. */
function paperRelativeInk(rgba, width, height) {
  if (width < 2 || height < 2) throw new Error(`picture of ${width}x${height}: too small`);
  const picture = flattenAlpha(rgba, width, height);
  if (!paperIsLight(picture, width, height)) for (let i = 0; i < picture.length; i++) picture[i] = 255 - picture[i];
  return evenLightInk(picture, width, height);
}

/** picture_ink.paper_is_light: is the frame's median nearer the lightest pixel than the darkest? */
function paperIsLight(picture, width, height) {
  let low = Infinity;
  let high = -Infinity;
  for (const v of picture) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const paper = median(frameValues(picture, width, height));
  return paper - low >= high - paper;
}

/**
 * picture_ink.flatten_alpha: RGBA -> grey 0..255. A mostly transparent outer frame means
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

/**
 * picture_ink.even_light_ink, in place: ink = (P - x) * max(P) / max(P, 1), P the paper's
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
  grid = overWindow(overWindow(grid, rows, cols, LIGHT_CLOSING, Math.max), rows, cols, LIGHT_CLOSING, Math.min);
  grid = fillHeavyInk(grid, rows, cols);
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

/** picture_ink.cell_levels: per cell of samples (every step-th pixel), its LIGHT_RANK quantile. */
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

/**
 * picture_ink.over_window: `pick` (Math.max, Math.min or a sum) over a (2r+1)^2 square
 * around each cell, edges clipped; rows, then columns, each cell combined with the one
 * after it, then the one before, then those 2 away... (the order numpy adds in).
 */
function overWindow(grid, rows, cols, radius, pick) {
  const down = along(grid, cols, 1, rows, cols, radius, pick); // along each column
  return along(down, rows, cols, cols, 1, radius, pick); // then along each row
}

/** `pick` within +-radius along `count` values of each of `lines` lines (strides given). */
function along(grid, lines, lineStride, count, stride, radius, pick) {
  const out = new Float64Array(grid.length);
  for (let line = 0; line < lines; line++) {
    const base = line * lineStride;
    for (let i = 0; i < count; i++) {
      let value = grid[base + i * stride];
      for (let shift = 1; shift <= radius; shift++) {
        if (i + shift < count) value = pick(value, grid[base + (i + shift) * stride]);
        if (i - shift >= 0) value = pick(value, grid[base + (i - shift) * stride]);
      }
      out[base + i * stride] = value;
    }
  }
  return out;
}

const add = (a, b) => a + b;

/**
 * picture_ink.fill_heavy_ink: cells darker than HEAVY_INK_SHARE of the paper enclosing
 * them (fillHoles) take the paper next to them (spreadPaper); the grid itself when no
 * cell is that dark against the brightest.
 */
function fillHeavyInk(grid, rows, cols) {
  const [share, whole] = HEAVY_INK_SHARE;
  const brightest = maxOf(grid);
  if (!grid.some((v) => v * whole < brightest * share)) return grid;
  const paper = fillHoles(grid, rows, cols);
  return spreadPaper(grid, rows, cols, Uint8Array.from(grid, (v, i) => (v * whole < paper[i] * share ? 1 : 0)));
}

/** picture_ink.fill_holes: each cell raised to the darkest paper a way out to the border crosses. */
function fillHoles(grid, rows, cols) {
  let filled = new Float64Array(grid.length).fill(maxOf(grid));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (r === 0 || r === rows - 1 || c === 0 || c === cols - 1) filled[r * cols + c] = grid[r * cols + c];
    }
  }
  for (;;) {
    const lower = overWindow(filled, rows, cols, 1, Math.min).map((v, i) => Math.max(v, grid[i]));
    if (lower.every((v, i) => v === filled[i])) return filled;
    filled = lower;
  }
}

/** picture_ink.spread_paper: inked cells, ring by ring, take the mean of their paper neighbours. */
function spreadPaper(grid, rows, cols, inked) {
  const out = Float64Array.from(grid);
  while (inked.some((v) => v)) {
    const count = overWindow(Float64Array.from(inked, (v) => (v ? 0 : 1)), rows, cols, 1, add);
    const total = overWindow(out.map((v, i) => (inked[i] ? 0 : v)), rows, cols, 1, add);
    const ring = inked.map((v, i) => (v && count[i] > 0 ? 1 : 0));
    for (let i = 0; i < out.length; i++) {
      if (ring[i]) {
        out[i] = total[i] / count[i];
        inked[i] = 0;
      }
    }
  }
  return out;
}

/** picture_ink.interpolation: per pixel, the cells below and above and the weight. */
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

function maxOf(values) {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  return max;
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
