// The word pad: several characters written in a row or a column (or an uploaded picture
// of a word), read by reading.js's readWord after each stroke with config.json's "word"
// model; each character can be tapped to pick another of its candidates.
import { loadModel, wordReader } from "./model.js";
import { copyText, drawPad, pictureFrame, scheduler, takeStrokes } from "./pad.js";
import { inkFromPad, isSupportedNormalization, toUint8 } from "./preprocess.js";
import { readUpload } from "./upload.js";
import { boxOnPad, choose, picksFor, wordText } from "./wordtext.js";

// The pad is read again once the pen lifts, after a short pause that a quick next stroke
// cancels. A reading runs the model only on spans whose crops the stroke changed (the
// others' choices are remembered), so it is short enough not to wait longer.
const DEBOUNCE_MS = 50;
// The pad's shape for a row and for a column, in canvas pixels: three characters of
// CELL pixels long; "auto" keeps the shape there is. The pen is STROKE_FRACTION of a
// character's cell, as on the single pad.
const SHAPES = { horizontal: [720, 240], vertical: [240, 720] };
const CELL = 240;
const STROKE_FRACTION = 0.035;
const DIRECTION_WORDS = { horizontal: "a row", vertical: "a column" };
const CANDIDATES = 5; // per character, to pick from

const $ = (id) => document.getElementById(id);
const pad = $("word-pad");
const padContext = pad.getContext("2d", { willReadFrequently: true });
const state = {
  model: null,
  readWord: null,
  orientation: "auto", // the direction asked of readWord: auto, horizontal or vertical
  shape: "horizontal", // the pad's shape: horizontal or vertical
  strokes: [],
  upload: null, // { ink, width, height, bitmap } of an uploaded picture
  history: [], // what Undo takes back: "stroke", or the pad as it was before a clear
  picks: [], // wordtext.js: the person's choices, by place on the pad
  reading: null, // the last reading, its boxes in pad pixels
  open: null, // the index of the character whose candidates are shown
  refusal: null, // why the last upload was not read, shown until the pad changes
  remembered: new Map(), // readWord's: the last reading's crops and their choices
};

// A hook for tests and for people adapting the page: `reading` matches the pad when `idle`;
// `readMs`: how long the last reading took, from the pad's pixels to the text shown.
const hook = { ready: false, idle: true, readings: 0, reading: null, text: "", refused: null, readMs: null };
window.kanjinet.word = hook;

/** Loads the word model and reading.js; the pad works from then on. */
export async function openWordPad(config) {
  wireUp();
  const entry = config.word;
  if (!entry) throw new Error("config.json names no word model (rebuild the page with this kanjinet)");
  const [model, reading] = await Promise.all([loadModel(entry, config.ort_dir), loadReading()]);
  state.model = model;
  state.readWord = reading.readWord;
  showStatus(entry);
  hook.ready = true;
  document.body.dataset.wordReady = "true";
  scheduleReading(0);
}

async function loadReading() {
  try {
    const reading = await import("./reading.js");
    if (typeof reading.readWord !== "function") throw new Error("it has no readWord");
    return reading;
  } catch (error) {
    throw new Error(`reading.js, which finds the characters of a word, is missing or broken (${error.message})`);
  }
}

function showStatus(entry) {
  const status = $("word-status");
  if (!isSupportedNormalization(entry.normalization)) {
    status.textContent = "Warning: the word model was trained with a different normalisation than this page applies; results may be poor.";
    status.classList.add("error");
    return;
  }
  const about = [entry.model_name, entry.trained_on].filter(Boolean).join(", ");
  status.textContent = `Ready: ${entry.num_classes.toLocaleString("en")} characters (${about}).`;
}

// --------------------------------------------------------------------------- the pad

function strokeWidth() {
  return Math.max(2, Math.round(CELL * STROKE_FRACTION));
}

function redraw() {
  drawPad(padContext, state.upload, state.strokes, strokeWidth());
  const empty = !state.strokes.length && !state.upload;
  $("word-undo").disabled = !state.history.length;
  $("word-clear").disabled = empty;
}

function setShape() {
  [pad.width, pad.height] = SHAPES[state.shape];
  $("word-frame").dataset.shape = state.shape;
  for (const radio of document.querySelectorAll("input[name=orientation]")) {
    radio.checked = radio.value === state.orientation;
  }
}

function onStroke(phase) {
  if (phase === "start") {
    state.history.push("stroke");
    state.refusal = null;
    scheduleReading.cancel(); // no reading in the middle of a stroke
    closeChoices();
  }
  redraw();
  if (phase === "end") scheduleReading(); // read once the pen lifts
}

// --------------------------------------------------------------------------- undo, clear, upload

function snapshot() {
  const { strokes, upload, picks, orientation, shape } = state;
  return { strokes, upload, picks, orientation, shape };
}

function replacePad(changes) {
  // Clear, a pad of the other shape and an upload replace the pad; Undo brings it back.
  if (state.strokes.length || state.upload || changes.upload) state.history.push(snapshot());
  Object.assign(state, { strokes: [], upload: null, picks: [], refusal: null, ...changes });
  setShape();
  closeChoices();
  redraw();
  scheduleReading(0);
}

function undo() {
  const last = state.history.pop();
  if (last === "stroke") state.strokes.pop();
  else if (last) Object.assign(state, last);
  setShape();
  closeChoices();
  redraw();
  scheduleReading(0);
}

function onOrientation(event) {
  const orientation = event.target.value;
  const shape = SHAPES[orientation] ? orientation : state.shape;
  if (shape !== state.shape) {
    replacePad({ orientation, shape }); // the writing would not fit the other shape
    return;
  }
  state.orientation = orientation;
  scheduleReading(0);
}

async function onUpload(event) {
  const file = event.target.files[0];
  if (!file) return;
  try {
    const upload = await readUpload(file, "a written word");
    if (upload.refused) {
      replacePad({ refusal: upload.refused });
      $("word-hint").textContent = upload.refused;
      hook.refused = upload.refused;
      return;
    }
    hook.refused = null;
    replacePad({ upload });
  } catch (error) {
    $("word-hint").textContent = `${file.name}: cannot read this picture (${error.message})`;
  } finally {
    event.target.value = ""; // the same file can be chosen again
  }
}

// --------------------------------------------------------------------------- reading

function currentInk() {
  // An untouched upload is read at its own resolution (as `kanjinet read` would);
  // once strokes are added, the pad itself is the picture.
  if (state.upload && !state.strokes.length) {
    const { ink, width, height } = state.upload;
    return { ink: toUint8(ink), width, height, frame: pictureFrame(state.upload, pad) };
  }
  if (!state.strokes.length) return null;
  const { data } = padContext.getImageData(0, 0, pad.width, pad.height);
  const ink = inkFromPad(data, pad.width, pad.height);
  return { ink, width: pad.width, height: pad.height, frame: { scale: 1, left: 0, top: 0 } };
}

const scheduleReading = scheduler(readPad, (idle) => (hook.idle = idle), DEBOUNCE_MS);

async function readPad() {
  if (!state.readWord) return;
  try {
    const started = performance.now();
    const source = currentInk();
    state.reading = source ? await readSource(source) : null;
    hook.readings += source ? 1 : 0;
    showReading();
    hook.readMs = performance.now() - started;
  } catch (error) {
    $("word-status").textContent = `Reading failed: ${error.message}`;
    $("word-status").classList.add("error");
    throw error;
  }
}

async function readSource({ ink, width, height, frame }) {
  const options = { direction: state.orientation, remembered: state.remembered, ...wordReader(state.model, CANDIDATES) };
  const reading = await state.readWord(ink, width, height, options);
  const characters = reading.characters.map((found) => ({ ...found, box: boxOnPad(found.box, frame) }));
  return { ...reading, characters };
}

// --------------------------------------------------------------------------- the text

function picked() {
  return state.reading ? picksFor(state.reading.characters, state.picks) : [];
}

function showReading() {
  const characters = state.reading?.characters ?? [];
  const picks = picked();
  const text = wordText(characters, picks);
  hook.reading = state.reading;
  hook.text = text;
  $("word-text").replaceChildren(...characters.map((found, i) => characterButton(found, picks[i], i)));
  $("word-copy").disabled = !text;
  if (state.open != null && state.open >= characters.length) closeChoices();
  showBoxes(characters);
  $("word-hint").textContent = hintFor(characters, picks);
}

function characterButton(found, pick, index) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "word-char";
  const shown = pick ?? found.candidates[0]?.character ?? "";
  const unsure = found.sure === false && pick == null;
  button.classList.toggle("unsure", unsure);
  button.classList.toggle("picked", pick != null);
  button.textContent = shown;
  button.dataset.index = String(index);
  button.setAttribute("aria-expanded", String(state.open === index));
  button.setAttribute("aria-label", `${shown}${unsure ? ", unsure" : ""}; choose another`);
  button.addEventListener("click", () => toggleChoices(index));
  return button;
}

function showBoxes(characters) {
  // The found characters outlined on the pad (an overlay: never part of what is read).
  const boxes = characters.map(({ box }, i) => {
    const outline = document.createElement("div");
    outline.className = i === state.open ? "word-box open" : "word-box";
    outline.style.left = `${(100 * box[0]) / pad.width}%`;
    outline.style.top = `${(100 * box[1]) / pad.height}%`;
    outline.style.width = `${(100 * box[2]) / pad.width}%`;
    outline.style.height = `${(100 * box[3]) / pad.height}%`;
    return outline;
  });
  $("word-boxes").replaceChildren(...boxes);
}

function hintFor(characters, picks) {
  if (!characters.length) {
    if (state.refusal) return state.refusal;
    if (state.strokes.length || state.upload) return "No characters found yet.";
    return "Write a word in the box, one character after another. Tap a character to pick another.";
  }
  const how = DIRECTION_WORDS[state.reading.direction] ?? "a line";
  const unsure = characters.filter((found, i) => found.sure === false && picks[i] == null).length;
  const doubt = unsure ? ` ${unsure} unsure (underlined): tap one to pick another.` : " Tap a character to pick another.";
  return `Read as ${how}.${doubt}`;
}

function toggleChoices(index) {
  if (state.open === index) closeChoices();
  else openChoices(index);
  showReading();
}

function openChoices(index) {
  state.open = index;
  const found = state.reading.characters[index];
  const list = found.candidates.map(({ character, probability }) => {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "word-choice";
    const percent = `${(100 * probability).toFixed(1)}%`;
    button.innerHTML = '<span class="char" lang="ja"></span><span class="prob"></span>';
    button.querySelector(".char").textContent = character;
    button.querySelector(".prob").textContent = percent;
    button.setAttribute("aria-label", `${character}, ${percent}`);
    button.addEventListener("click", () => pick(found.box, character));
    return button;
  });
  $("word-choices").replaceChildren(...list);
  $("word-choices").hidden = false;
}

function closeChoices() {
  state.open = null;
  $("word-choices").hidden = true;
  $("word-choices").replaceChildren();
}

function pick(box, character) {
  state.picks = choose(state.picks, box, character);
  closeChoices();
  showReading();
}

function onKey(event) {
  if (event.target instanceof HTMLInputElement || $("word-panel").hidden) return;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    undo();
    event.preventDefault();
  } else if (event.key === "Escape") {
    if (state.open != null) toggleChoices(state.open);
    else replacePad({});
  }
}

let wired = false;

function wireUp() {
  if (wired) return;
  wired = true;
  takeStrokes(pad, () => state.strokes, onStroke);
  $("word-undo").addEventListener("click", undo);
  $("word-clear").addEventListener("click", () => replacePad({}));
  $("word-upload").addEventListener("change", onUpload);
  $("word-copy").addEventListener("click", () => hook.text && copyText(hook.text, $("word-hint")));
  for (const radio of document.querySelectorAll("input[name=orientation]")) {
    radio.addEventListener("change", onOrientation);
  }
  document.addEventListener("keydown", onKey);
  setShape();
  redraw();
  showReading();
}
