// The page's picture path, the twin of the Python package kanjinet/preprocess/, file for
// file: picture.js (sizes, the cut to the character, averaging down), picture_ink.js
// (grey, polarity, even light, contrast), normalize.js (THE normalisation),
// stroke_width.js (its step 8) and model_input.js. The page imports them from here.
export {
  MAX_PICTURE_ASPECT,
  MAX_PICTURE_PIXELS,
  MAX_PICTURE_SIDE,
  cropToCharacter,
  pictureShapeProblem,
  shrinkPicture,
} from "./picture.js";
export { MIN_INK_CONTRAST, inkContrast, inkFromPad, inkFromPicture, pictureInk } from "./picture_ink.js";
export { NORMALIZATION, findBox, findExtent, isSupportedNormalization, marginFor, normalizeInk, toUint8 } from "./normalize.js";
export { thinStrokes } from "./stroke_width.js";
export { modelInput } from "./model_input.js";
