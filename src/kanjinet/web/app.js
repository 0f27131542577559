// The page: a writing pad, preprocessing (preprocess.js, mirrors kanjinet/preprocess/normalize.py)
// and the exported model running in onnxruntime-web's WASM backend. No server round trip.
import {
  MAX_PICTURE_PIXELS,
  pictureShapeProblem,
  MIN_INK_CONTRAST,
  cropToCharacter,
  inkContrast,
  inkFromPad,
  inkFromPicture,
  isSupportedNormalization,
  modelInput,
  normalizeInk,
  shrinkPicture,
} from "./preprocess.js";

const TOP_K = 5;
const DEBOUNCE_MS = 120;
// Stroke width as a fraction of the pad's side: close to a pen on the ETL9G sheets
// after normalisation, and readable on a phone.
const STROKE_FRACTION = 0.035;

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const padContext = pad.getContext("2d", { willReadFrequently: true });
const state = {
  config: null,
  chars: [],
  // From the mapping's "calibration" (kanjinet/calibration.py): logits are divided by
  // the temperature before the softmax; a best match below unsureBelow is marked unsure.
  calibration: { temperature: 1, unsureBelow: null },
  session: null,
  strokes: [],
  drawing: null,
  upload: null, // { ink, width, height, bitmap } of an uploaded image
  timer: 0,
  busy: false,
  again: false,
};

// A hook for tests and for people adapting the page: the last input and result.
// `idle`: no recognition running or scheduled, so lastResult matches the pad.
const demo = { lastInput: null, lastResult: null, recognitions: 0, idle: true, refused: null };
window.kanjinet = demo;

function setStatus(text, isError = false) {
  const status = $("status");
  status.textContent = text;
  status.classList.toggle("error", isError);
}

async function fetchJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function charList(mapping, count) {
  // class_to_char is {"0": "あ", ...} or a list; either way index -> character.
  const table = mapping.class_to_char;
  return Array.from({ length: count }, (_, i) => table[i] ?? table[String(i)] ?? "?");
}

async function loadModel() {
  const config = await fetchJSON("config.json");
  const mapping = await fetchJSON(config.mapping);
  ort.env.wasm.wasmPaths = new URL(config.ort_dir, location.href).href;
  // One thread: the model is small and threads need cross-origin isolation,
  // which plain static hosts do not give.
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(config.model, {
    executionProviders: ["wasm"],
  });
  state.config = config;
  state.chars = charList(mapping, config.num_classes);
  state.calibration = readCalibration(mapping);
  state.session = session;
}

function readCalibration(mapping) {
  // A mapping without a (valid) calibration: plain softmax, nothing marked unsure.
  const entry = mapping.calibration ?? {};
  const temperature = Number(entry.temperature);
  const threshold = entry.unsure_below == null ? null : Number(entry.unsure_below);
  return {
    temperature: Number.isFinite(temperature) && temperature > 0 ? temperature : 1,
    unsureBelow: Number.isFinite(threshold) ? threshold : null,
  };
}

function strokeWidth() {
  return Math.max(2, Math.round(pad.width * STROKE_FRACTION));
}

function drawStroke(points) {
  padContext.beginPath();
  padContext.moveTo(points[0][0], points[0][1]);
  // A lone tap still leaves a dot: a zero-length segment with round caps.
  for (const [x, y] of points.length > 1 ? points.slice(1) : points) padContext.lineTo(x, y);
  padContext.stroke();
}

function fitRect(width, height, side) {
  const scale = side / Math.max(width, height);
  const w = width * scale;
  const h = height * scale;
  return [(side - w) / 2, (side - h) / 2, w, h];
}

function redraw() {
  padContext.fillStyle = "#fff";
  padContext.fillRect(0, 0, pad.width, pad.height);
  if (state.upload) padContext.drawImage(state.upload.bitmap, ...fitRect(state.upload.width, state.upload.height, pad.width));
  padContext.strokeStyle = "#000";
  padContext.lineWidth = strokeWidth();
  padContext.lineCap = "round";
  padContext.lineJoin = "round";
  for (const points of state.strokes) drawStroke(points);
  $("undo").disabled = !state.strokes.length && !state.upload;
  $("clear").disabled = !state.strokes.length && !state.upload;
}

function padPoint(event) {
  const rect = pad.getBoundingClientRect();
  return [
    ((event.clientX - rect.left) * pad.width) / rect.width,
    ((event.clientY - rect.top) * pad.height) / rect.height,
  ];
}

function onPointerDown(event) {
  if (event.button !== 0) return;
  pad.setPointerCapture(event.pointerId);
  state.drawing = [padPoint(event)];
  state.strokes.push(state.drawing);
  redraw();
  event.preventDefault();
}

function onPointerMove(event) {
  if (!state.drawing) return;
  // Coalesced events keep fast pen strokes smooth.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) state.drawing.push(padPoint(e));
  redraw();
  scheduleRecognition();
}

function onPointerUp() {
  if (!state.drawing) return;
  state.drawing = null;
  scheduleRecognition();
}

function undo() {
  if (state.strokes.length) state.strokes.pop();
  else state.upload = null;
  redraw();
  scheduleRecognition();
}

function clearPad() {
  state.strokes = [];
  state.upload = null;
  redraw();
  scheduleRecognition();
}

async function readUpload(file) {
  // No colour management or premultiplication: the pixels as stored, as Python reads them;
  // turned upright by the EXIF orientation, as `predict` turns them (picture_ink.py).
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
  // A large picture is cut to its character found at full resolution, then averaged
  // down if still large, exactly as `kanjinet predict` does.
  const region = cropToCharacter(data, bitmap.width, bitmap.height);
  const { rgba, width, height } = shrinkPicture(region.rgba, region.width, region.height);
  return {
    contrast: inkContrast(rgba, width, height),
    ink: inkFromPicture(rgba, width, height),
    width,
    height,
    bitmap,
  };
}

async function frameCount(file) {
  // An animation holds several characters or none: never read just its first frame.
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

function refuseUpload(message) {
  state.upload = null;
  state.strokes = [];
  redraw();
  demo.lastInput = null;
  demo.lastResult = null;
  showResult(null);
  $("hint").textContent = message;
  demo.refused = message;
}

async function onUpload(event) {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const frames = await frameCount(file);
    if (frames > 1) {
      refuseUpload(`${file.name}: an animation of ${frames} frames. Upload one still picture of one character.`);
      return;
    }
    const upload = await readUpload(file);
    if (upload.refused) {
      refuseUpload(`${file.name}: ${upload.refused}. Upload a picture of one written character.`);
      return;
    }
    if (upload.contrast < MIN_INK_CONTRAST) {
      refuseUpload(`${file.name}: no ink found (a blank or uniform picture). Upload a picture of one written character.`);
      return;
    }
    demo.refused = null;
    state.upload = upload;
    state.strokes = [];
    redraw();
    scheduleRecognition(0);
  } catch (error) {
    setStatus(`${file.name}: cannot read this image (${error.message})`, true);
  } finally {
    event.target.value = ""; // the same file can be chosen again
  }
}

function currentInk() {
  // An untouched upload is read at its own resolution (as `kanjinet predict` would);
  // once strokes are added, the pad itself is the image.
  if (state.upload && !state.strokes.length) return state.upload;
  if (!state.strokes.length) return null;
  const { data } = padContext.getImageData(0, 0, pad.width, pad.height);
  return { ink: inkFromPad(data, pad.width, pad.height), width: pad.width, height: pad.height };
}

function scheduleRecognition(delay = DEBOUNCE_MS) {
  demo.idle = false;
  clearTimeout(state.timer);
  state.timer = setTimeout(recognise, delay);
}

function probabilities(scores) {
  // Softmax of logits; a model that already ends in softmax is left as it is.
  let sum = 0;
  let inUnitRange = true;
  for (const v of scores) {
    sum += v;
    inUnitRange &&= v >= 0 && v <= 1;
  }
  if (inUnitRange && Math.abs(sum - 1) < 1e-3) return Float32Array.from(scores);
  const t = state.calibration.temperature;
  const max = Math.max(...scores);
  const exps = Float32Array.from(scores, (v) => Math.exp((v - max) / t));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

function topK(probs, k) {
  const order = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]);
  const threshold = state.calibration.unsureBelow;
  return order.slice(0, k).map((index) => ({
    index,
    char: state.chars[index],
    p: probs[index],
    sure: threshold == null ? null : probs[index] >= threshold,
  }));
}

async function recognise() {
  if (!state.session) {
    demo.idle = true;
    return;
  }
  if (state.busy) {
    state.again = true;
    return;
  }
  state.busy = true;
  try {
    const source = currentInk();
    if (!source) {
      demo.lastInput = null;
      demo.lastResult = null;
      showResult(null);
      return;
    }
    const [height, width] = state.config.input_size;
    const normalized = normalizeInk(source.ink, source.width, source.height, width);
    showModelInput(normalized, width, height);
    const input = modelInput(normalized);
    const feeds = { [state.config.input_name]: new ort.Tensor("float32", input, [1, 1, height, width]) };
    const output = await state.session.run(feeds);
    const result = topK(probabilities(output[state.config.output_name].data), TOP_K);
    demo.lastInput = input;
    demo.lastResult = result;
    demo.recognitions += 1;
    showResult(result);
  } catch (error) {
    setStatus(`Recognition failed: ${error.message}`, true);
    throw error;
  } finally {
    state.busy = false;
    if (state.again) {
      state.again = false;
      scheduleRecognition(0);
    } else {
      demo.idle = true;
    }
  }
}

function showModelInput(normalized, width, height) {
  const canvas = $("model-input");
  canvas.width = width;
  canvas.height = height;
  const image = new ImageData(width, height);
  normalized.forEach((ink, i) => {
    // Shown as dark ink on paper, like the pad.
    image.data.fill(255 - ink, 4 * i, 4 * i + 3);
    image.data[4 * i + 3] = 255;
  });
  canvas.getContext("2d").putImageData(image, 0, 0);
}

function candidateButton({ char, p, sure }, rank) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = rank === 0 ? "candidate top" : "candidate";
  if (sure === false) button.classList.add("unsure");
  const percent = `${(100 * p).toFixed(1)}%`;
  button.setAttribute("aria-label", `${char}, ${percent}${sure === false ? ", unsure" : ""}; copy`);
  button.innerHTML = '<span class="char" lang="ja"></span><span class="bar"><span></span></span><span class="prob"></span>';
  button.querySelector(".char").textContent = char;
  button.querySelector(".bar span").style.width = `${Math.max(1, 100 * p)}%`;
  button.querySelector(".prob").textContent = percent;
  button.addEventListener("click", () => copyChar(char));
  return button;
}

function showResult(result) {
  const list = $("candidates");
  list.replaceChildren(
    ...(result ?? []).map((candidate, rank) => {
      const item = document.createElement("li");
      item.append(candidateButton(candidate, rank));
      return item;
    }),
  );
  $("hint").textContent = hintFor(result);
  if (!result) {
    const canvas = $("model-input");
    canvas.getContext("2d").clearRect(0, 0, canvas.width, canvas.height);
  }
}

function hintFor(result) {
  if (!result) return "Write one character in the box. Click a match to copy it.";
  if (result[0].sure === false) {
    const below = `${Math.round(100 * state.calibration.unsureBelow)}%`;
    return (
      `Unsure: the best match is below ${below}. This may not be one of the characters ` +
      "the model knows, or it is written unclearly. Click a match to copy it."
    );
  }
  return "Click a match to copy it.";
}

async function copyChar(char) {
  try {
    await navigator.clipboard.writeText(char);
    $("hint").textContent = `Copied ${char}`;
  } catch {
    // Clipboard API needs a secure context; plain http hosts get the text to copy by hand.
    $("hint").textContent = `Copy this: ${char}`;
  }
}

function onKey(event) {
  if (event.target instanceof HTMLInputElement) return;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    undo();
    event.preventDefault();
  } else if (event.key === "Escape") {
    clearPad();
  }
}

function wireUp() {
  pad.addEventListener("pointerdown", onPointerDown);
  pad.addEventListener("pointermove", onPointerMove);
  pad.addEventListener("pointerup", onPointerUp);
  pad.addEventListener("pointercancel", onPointerUp);
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearPad);
  $("upload").addEventListener("change", onUpload);
  document.addEventListener("keydown", onKey);
  redraw();
}

async function main() {
  wireUp();
  try {
    await loadModel();
  } catch (error) {
    setStatus(`Could not load the model: ${error.message}`, true);
    throw error;
  }
  const [height, width] = state.config.input_size;
  if (!isSupportedNormalization(state.config.normalization)) {
    // Still usable, but the model saw differently prepared images in training.
    setStatus("Warning: this model was trained with a different normalisation than this page applies; results may be poor.", true);
    console.warn("normalisation mismatch", state.config.normalization);
  } else {
    const { num_classes: classes, model_name: name, trained_on: trainedOn } = state.config;
    const about = [name, trainedOn].filter(Boolean).join(", ");
    setStatus(`Ready: ${classes.toLocaleString("en")} characters (${about}), ${width}×${height} input, running in your browser (WebAssembly).`);
  }
  document.body.dataset.ready = "true";
  scheduleRecognition(0);
}

demo.ready = main();
