// node --test: web/preprocess.js gives exactly what kanjinet.normalize gives (Python)
// on the shared vectors (tests/data/normalize_vectors.json, or $KANJINET_VECTORS).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { inflateSync } from "node:zlib";
import { fileURLToPath } from "node:url";

import {
  cropToCharacter,
  inkFromPad,
  inkFromPicture,
  isSupportedNormalization,
  modelInput,
  normalizeInk,
  shrinkPicture,
} from "../../src/kanjinet/web/preprocess.js";

const defaultPath = fileURLToPath(new URL("../data/normalize_vectors.json", import.meta.url));
const vectors = JSON.parse(readFileSync(process.env.KANJINET_VECTORS ?? defaultPath, "utf8"));

const ARRAYS = { uint8: Uint8Array, float32: Float32Array };

function decode(base64, dtype) {
  const bytes = inflateSync(Buffer.from(base64, "base64"));
  const copy = new Uint8Array(bytes); // aligned copy: typed arrays need aligned buffers
  return new ARRAYS[dtype](copy.buffer, 0, copy.length / ARRAYS[dtype].BYTES_PER_ELEMENT);
}

function jsOutput(vector) {
  const { kind, dtype, width, height, size, input } = vector;
  const pixels = decode(input, dtype);
  if (kind === "picture") {
    const full = vector.channels === 4 ? pixels : toRGBA(pixels, vector.channels);
    const region = cropToCharacter(full, width, height); // as the page reads an upload
    const shrunk = shrinkPicture(region.rgba, region.width, region.height);
    const ink = inkFromPicture(shrunk.rgba, shrunk.width, shrunk.height);
    return normalizeInk(ink, shrunk.width, shrunk.height, size);
  }
  if (kind === "pad") return normalizeInk(inkFromPad(pixels, width, height), width, height, size);
  return normalizeInk(pixels, width, height, size);
}

function toRGBA(pixels, channels) {
  // What a browser's getImageData gives for an RGB picture: alpha 255 added.
  const rgba = new Uint8Array((pixels.length / channels) * 4).fill(255);
  for (let i = 0; i < pixels.length / channels; i++) {
    for (let c = 0; c < 3; c++) rgba[4 * i + c] = pixels[channels * i + (channels === 1 ? 0 : c)];
  }
  return rgba;
}

function firstDifference(got, expected, size) {
  const i = got.findIndex((v, k) => v !== expected[k]);
  return `pixel (${Math.floor(i / size)}, ${i % size}): JS ${got[i]}, Python ${expected[i]}`;
}

test("the vectors' normalisation is the one preprocess.js implements", () => {
  assert.ok(isSupportedNormalization(vectors.normalization), JSON.stringify(vectors.normalization));
});

for (const vector of vectors.cases) {
  test(`parity: ${vector.name}`, () => {
    const got = jsOutput(vector);
    const expected = decode(vector.expected, "uint8");
    assert.equal(got.length, vector.size * vector.size);
    const same = got.every((v, k) => v === expected[k]);
    assert.ok(same, `${vector.name}: ${firstDifference(got, expected, vector.size)}`);
  });
}

test("model input is uint8 / 255 as float32", () => {
  const input = modelInput(Uint8Array.from([0, 1, 128, 255]));
  assert.ok(input instanceof Float32Array);
  assert.deepEqual(Array.from(input), [0, 1 / 255, 128 / 255, 1].map(Math.fround));
});
