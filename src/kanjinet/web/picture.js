// kanjinet/preprocess/picture.py in JavaScript: what the page does to an upload before
// its ink is read (picture_ink.js) and normalised (normalize.js): the size rules, the cut
// to the character of a large picture, and the averaging down. Integer arithmetic where
// Python's is, so the pixels are the same (tests/test_preprocess_parity.py).
import { findBox, inkMask, toUint8 } from "./normalize.js";
import { inkFromPicture } from "./picture_ink.js";

/** picture.MAX_PICTURE_PIXELS and MAX_PICTURE_SIDE: refused above, averaged down to. */
export const MAX_PICTURE_PIXELS = 64_000_000;
export const MAX_PICTURE_SIDE = 1024;
/** picture.MAX_PICTURE_ASPECT: a picture longer than this many times its width is a strip. */
export const MAX_PICTURE_ASPECT = 64;

/**
 * Why a picture of this size cannot hold one character (picture.check_picture_size's
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
 * picture.shrink_picture: an RGBA picture whose longer side exceeds MAX_PICTURE_SIDE,
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

/** picture.CROP_PAD: paper kept around a found character, of its longer side. */
const CROP_PAD = [1, 4];

/**
 * picture.crop_to_character: an RGBA picture longer than MAX_PICTURE_SIDE, cut to
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
