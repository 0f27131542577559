// Reading an uploaded picture as `kanjinet predict` reads it (kanjinet.preprocess.picture):
// both pads use it, the single-character pad and the word pad.
import {
  MAX_PICTURE_PIXELS,
  MIN_INK_CONTRAST,
  cropToCharacter,
  pictureInk,
  pictureShapeProblem,
  shrinkPicture,
} from "./preprocess.js";

/**
 * The picture's ink: { ink, width, height, bitmap, contrast }, or { refused } with the
 * reason when it is not one still picture with ink on it (`what`: what it should show,
 * for the reason's wording). Throws when the browser cannot decode it.
 */
export async function readUpload(file, what) {
  const frames = await frameCount(file);
  if (frames > 1) {
    return { refused: `${file.name}: an animation of ${frames} frames. Upload one still picture of ${what}.` };
  }
  const upload = await readPicture(file);
  if (upload.refused) return { refused: `${file.name}: ${upload.refused}. Upload a picture of ${what}.` };
  if (upload.contrast < MIN_INK_CONTRAST) {
    upload.bitmap.close();
    return { refused: `${file.name}: no ink found (a blank or uniform picture). Upload a picture of ${what}.` };
  }
  return upload;
}

async function readPicture(file) {
  // No colour management or premultiplication: the pixels as stored, as Python reads them;
  // turned upright by the EXIF orientation, as `predict` turns them (preprocess/picture_ink.py).
  const bitmap = await createImageBitmap(file, {
    imageOrientation: "from-image",
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  if (bitmap.width * bitmap.height > MAX_PICTURE_PIXELS) {
    const size = `${bitmap.width}x${bitmap.height}`;
    bitmap.close();
    throw new Error(`${size} pixels, more than the ${MAX_PICTURE_PIXELS.toLocaleString("en")} read here; scale it down`);
  }
  const problem = pictureShapeProblem(bitmap.width, bitmap.height);
  if (problem) {
    bitmap.close();
    return { refused: problem };
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  // A large picture is cut to its ink found at full resolution, then averaged
  // down if still large, exactly as `kanjinet predict` does.
  const region = cropToCharacter(data, bitmap.width, bitmap.height);
  const { rgba, width, height } = shrinkPicture(region.rgba, region.width, region.height);
  const { ink, contrast } = pictureInk(rgba, width, height); // the ink and its check, read once
  return {
    contrast,
    ink,
    width,
    height,
    bitmap: await shownPicture(bitmap, rgba, width, height),
  };
}

async function shownPicture(bitmap, rgba, width, height) {
  // The pad shows the pixels that are read: a cut or shrunk picture replaces the whole,
  // so that what is drawn on top and the found characters' boxes line up with it.
  if (bitmap.width === width && bitmap.height === height) return bitmap;
  bitmap.close();
  return createImageBitmap(new ImageData(rgba, width, height));
}

async function frameCount(file) {
  // An animation holds several pictures or none: never read just its first frame.
  // ImageDecoder (WebCodecs) counts frames where the browser has it.
  if (typeof ImageDecoder === "undefined" || !file.type) return 1;
  try {
    const decoder = new ImageDecoder({ data: await file.arrayBuffer(), type: file.type });
    await decoder.tracks.ready;
    await decoder.completed; // all data read: the frame count is final
    const count = decoder.tracks.selectedTrack?.frameCount ?? 1;
    decoder.close();
    return count;
  } catch {
    return 1; // a type ImageDecoder does not know: read as one picture below
  }
}
