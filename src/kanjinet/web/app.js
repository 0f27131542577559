// The page: a writing pad, preprocessing (preprocess.js, mirrors kanjinet/preprocess/normalize.py)
// and the exported model running in onnxruntime-web's WASM backend. No server round trip.
// The word pad (words.js) is a second tab, loaded when first opened.
import { classifyInputs, fetchJSON, loadModel, topK } from "./model.js";
import { copyText, drawPad, scheduler, takeStrokes } from "./pad.js";
import { inkFromPad, isSupportedNormalization, modelInput, normalizeInk } from "./preprocess.js";
import { readUpload } from "./upload.js";

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
  model: null, // model.js's loadModel: session, characters, calibration
  strokes: [],
  upload: null, // { ink, width, height, bitmap } of an uploaded image
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

function strokeWidth() {
  return Math.max(2, Math.round(pad.width * STROKE_FRACTION));
}

function redraw() {
  drawPad(padContext, state.upload, state.strokes, strokeWidth());
  $("undo").disabled = !state.strokes.length && !state.upload;
  $("clear").disabled = !state.strokes.length && !state.upload;
}

function onStroke(phase) {
  redraw();
  if (phase !== "start") scheduleRecognition(); // recognised as it is written
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
    const upload = await readUpload(file, "one written character");
    if (upload.refused) {
      refuseUpload(upload.refused);
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

const scheduleRecognition = scheduler(recognise, (idle) => (demo.idle = idle), DEBOUNCE_MS);

async function recognise() {
  if (!state.model) return;
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
    const [probs] = await classifyInputs(state.model, [input]);
    const result = topK(state.model, probs, TOP_K);
    demo.lastInput = input;
    demo.lastResult = result;
    demo.recognitions += 1;
    showResult(result);
  } catch (error) {
    setStatus(`Recognition failed: ${error.message}`, true);
    throw error;
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
  button.addEventListener("click", () => copyText(char, $("hint")));
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
    const below = `${Math.round(100 * state.model.calibration.unsureBelow)}%`;
    return (
      `Unsure: the best match is below ${below}. This may not be one of the characters ` +
      "the model knows, or it is written unclearly. Click a match to copy it."
    );
  }
  return "Click a match to copy it.";
}

function onKey(event) {
  if (event.target instanceof HTMLInputElement || activeTab() !== "char") return;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    undo();
    event.preventDefault();
  } else if (event.key === "Escape") {
    clearPad();
  }
}

function wireUp() {
  takeStrokes(pad, () => state.strokes, onStroke);
  $("undo").addEventListener("click", undo);
  $("clear").addEventListener("click", clearPad);
  $("upload").addEventListener("change", onUpload);
  document.addEventListener("keydown", onKey);
  for (const tab of document.querySelectorAll("[role=tab]")) {
    tab.addEventListener("click", () => showTab(tab.dataset.tab));
    tab.addEventListener("keydown", onTabKey);
  }
  redraw();
}

function onTabKey(event) {
  // The tab pattern: arrow keys move between the tabs, the focused tab opens.
  if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
  const tabs = [...document.querySelectorAll("[role=tab]")];
  const step = event.key === "ArrowRight" ? 1 : tabs.length - 1;
  const next = tabs[(tabs.indexOf(event.currentTarget) + step) % tabs.length];
  next.focus();
  showTab(next.dataset.tab);
  event.preventDefault();
}

function activeTab() {
  return document.querySelector("[role=tab][aria-selected=true]").dataset.tab;
}

function showTab(name) {
  for (const tab of document.querySelectorAll("[role=tab]")) {
    const selected = tab.dataset.tab === name;
    tab.setAttribute("aria-selected", String(selected));
    tab.tabIndex = selected ? 0 : -1;
    $(tab.getAttribute("aria-controls")).hidden = !selected;
  }
  if (name === "word") openWordPad();
}

let wordPad = null;

function openWordPad() {
  // The word pad's module and model load on first use: the single pad never waits for them.
  wordPad ??= demo.ready
    .then(() => import("./words.js"))
    .then((words) => words.openWordPad(state.config))
    .catch((error) => {
      $("word-status").textContent = `The word pad could not start: ${error.message}`;
      $("word-status").classList.add("error");
      document.body.dataset.wordReady = "failed";
    });
  return wordPad;
}

async function main() {
  wireUp();
  try {
    state.config = await fetchJSON("config.json");
    state.model = await loadModel(state.config, state.config.ort_dir);
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
