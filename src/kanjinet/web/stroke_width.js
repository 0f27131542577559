// kanjinet/preprocess/stroke_width.py in JavaScript: step 8 of the normalisation, in
// integers, so it gives the bytes Python gives (tests/test_stroke_width.py checks it).

const STROKE_MASK_LEVEL = 128;
const THICK_DISTANCE = 2;
const REFERENCE_SIZE = 64;

/** stroke_width.RECIPE: the step as data, inside normalize.js NORMALIZATION. */
export const RECIPE =
  `size // ${REFERENCE_SIZE} grey 3x3 erosions, then max -> 255 in integers, where the ` +
  `mean chessboard distance to paper of the >= ${STROKE_MASK_LEVEL} mask is >= ` +
  `${THICK_DISTANCE} x size / ${REFERENCE_SIZE}`;

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
 * stroke_width.thin_strokes for one normalised image: where the ink mask's mean
 * chessboard distance to paper is >= THICK_DISTANCE x size / 64, size // 64 3 x 3 erosions
 * and contrast again in integers; otherwise the image itself.
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
