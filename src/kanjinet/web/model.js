// A model the page runs in onnxruntime-web (WASM): its session, class table and
// calibration, as config.json and the model's mapping describe them. Both pads use it:
// the single-character pad with config.json's main model, the word pad with its "word".

// Inputs per session.run: enough to amortise the call, small enough for a phone's memory.
const BATCH = 32;

export async function fetchJSON(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.json();
}

function charList(mapping, count) {
  // class_to_char is {"0": "あ", ...} or a list; either way index -> character.
  const table = mapping.class_to_char;
  return Array.from({ length: count }, (_, i) => table[i] ?? table[String(i)] ?? "?");
}

function readCalibration(mapping) {
  // From the mapping's "calibration" (kanjinet.inference.confidence): logits are divided
  // by the temperature before the softmax; a best match below unsureBelow is unsure.
  // A mapping without a (valid) calibration: plain softmax, nothing marked unsure.
  const entry = mapping.calibration ?? {};
  const temperature = Number(entry.temperature);
  const threshold = entry.unsure_below == null ? null : Number(entry.unsure_below);
  return {
    temperature: Number.isFinite(temperature) && temperature > 0 ? temperature : 1,
    unsureBelow: Number.isFinite(threshold) ? threshold : null,
  };
}

/**
 * Loads the model a config entry names (`model`, `mapping`, `input_name`, `output_name`,
 * `input_size`, `num_classes`): { entry, session, chars, calibration }.
 * `ortDir`: where onnxruntime-web's WASM files are, relative to the page.
 */
export async function loadModel(entry, ortDir) {
  const mapping = await fetchJSON(entry.mapping);
  ort.env.wasm.wasmPaths = new URL(ortDir, location.href).href;
  // One thread: the model is small and threads need cross-origin isolation,
  // which plain static hosts do not give.
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(entry.model, {
    executionProviders: ["wasm"],
  });
  return {
    entry,
    session,
    chars: charList(mapping, entry.num_classes),
    calibration: readCalibration(mapping),
  };
}

/** Softmax of logits at the model's temperature; a model ending in softmax is left as it is. */
export function probabilities(model, scores) {
  let sum = 0;
  let inUnitRange = true;
  for (const v of scores) {
    sum += v;
    inUnitRange &&= v >= 0 && v <= 1;
  }
  if (inUnitRange && Math.abs(sum - 1) < 1e-3) return Float32Array.from(scores);
  const t = model.calibration.temperature;
  let max = -Infinity;
  for (const v of scores) max = Math.max(max, v);
  const exps = Float32Array.from(scores, (v) => Math.exp((v - max) / t));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

/** The k most probable classes: { index, char, p, sure } (sure: null without a calibration). */
export function topK(model, probs, k) {
  const threshold = model.calibration.unsureBelow;
  return bestIndices(probs, k).map((index) => ({
    index,
    char: model.chars[index],
    p: probs[index],
    sure: threshold == null ? null : probs[index] >= threshold,
  }));
}

/** The k largest entries' indices, largest first, ties in index order: what a stable sort
 *  of all of them gives, without sorting thousands of classes for five (a word reads many). */
function bestIndices(probs, k) {
  const best = [];
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i];
    if (best.length === k && !(p > probs[best[k - 1]])) continue;
    let at = Math.min(best.length, k - 1);
    while (at > 0 && p > probs[best[at - 1]]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

/** The model's calibrated probabilities for float32 inputs (each side x side), one per input. */
export async function classifyInputs(model, inputs) {
  const [height, width] = model.entry.input_size;
  const pixels = height * width;
  const classes = model.entry.num_classes;
  const out = [];
  for (let start = 0; start < inputs.length; start += BATCH) {
    const part = inputs.slice(start, start + BATCH);
    const batch = new Float32Array(part.length * pixels);
    part.forEach((input, i) => batch.set(input, i * pixels));
    const feeds = {
      [model.entry.input_name]: new ort.Tensor("float32", batch, [part.length, 1, height, width]),
    };
    const output = await model.session.run(feeds);
    const scores = output[model.entry.output_name].data;
    for (let i = 0; i < part.length; i++) {
      out.push(probabilities(model, scores.subarray(i * classes, (i + 1) * classes)));
    }
  }
  return out;
}

/**
 * readWord's options for this model (reading.js): `classify` runs the model on every
 * crop's input and gives its `k` best candidates, { character, probability } with the
 * calibration applied, most probable first; `size` and `unsureBelow` are the model's.
 */
export function wordReader(model, k) {
  const classify = async (crops) => {
    const found = await classifyInputs(model, crops.map((crop) => crop.input));
    return found.map((probs) => topK(model, probs, k).map(({ char, p }) => ({ character: char, probability: p })));
  };
  return { classify, size: model.entry.input_size[1], unsureBelow: model.calibration.unsureBelow };
}
