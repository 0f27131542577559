// node --test: web/segment.js and web/reading.js give what kanjinet.preprocess.segment and
// kanjinet.inference.reading give (Python) on the vectors of $KANJINET_READ_VECTORS
// (written by tests/test_read_parity.py).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { inflateSync } from "node:zlib";

import { topK } from "../../src/kanjinet/web/model.js";
import { likelySpans, readSegmented, readWord } from "../../src/kanjinet/web/reading.js";
import { isSmall, segment, spanCrop } from "../../src/kanjinet/web/segment.js";

const vectors = JSON.parse(readFileSync(process.env.KANJINET_READ_VECTORS, "utf8"));

function decode(base64) {
  return new Uint8Array(inflateSync(Buffer.from(base64, "base64")));
}

function asPython(cut) {
  return {
    direction: cut.direction,
    thickness: cut.thickness,
    line_top: cut.lineTop,
    parts: cut.parts,
    spans: cut.spans.map((s) => [s.first, s.last, s.start, s.stop, s.top, s.bottom]),
  };
}

function sameReading(got, expected) {
  assert.equal(got.text, expected.text);
  assert.equal(got.direction, expected.direction);
  assert.equal(got.characters.length, expected.characters.length);
  got.characters.forEach((c, i) => {
    const want = expected.characters[i];
    assert.deepEqual(c.box, want.box);
    assert.equal(c.sure, want.sure);
    assert.deepEqual(c.candidates.map((k) => k.character), want.candidates.map((k) => k.character));
    c.candidates.forEach((k, j) => assert.ok(Math.abs(k.probability - want.candidates[j].probability) < 1e-6));
  });
}

for (const vector of vectors.cases) {
  const ink = decode(vector.ink);
  test(`parts and spans: ${vector.name}`, () => {
    assert.deepEqual(asPython(segment(ink, vector.width, vector.height)), vector.segmentation);
  });
  test(`path and reading: ${vector.name}`, () => {
    const cut = segment(ink, vector.width, vector.height);
    sameReading(readSegmented(cut, vector.found, 0.9), vector.reading);
  });
  test(`crops: ${vector.name}`, () => {
    const cut = segment(ink, vector.width, vector.height);
    vector.crops.forEach((want, i) => {
      const crop = spanCrop(ink, vector.width, vector.height, cut.spans[i], cut);
      assert.equal(crop.width, want.width);
      assert.equal(crop.height, want.height);
      assert.ok(Buffer.from(crop.ink).equals(Buffer.from(decode(want.ink))), `crop ${i}`);
    });
  });
  test(`spans the shape prior leaves: ${vector.name}`, () => {
    const cut = segment(ink, vector.width, vector.height);
    const want = vector.likely.map((i) => vector.segmentation.spans[i]);
    assert.deepEqual(asPython(likelySpans(cut)).spans, want);
  });
  test(`readWord: ${vector.name}`, async () => {
    let calls = 0;
    const classify = async (crops) => {
      calls += 1;
      assert.equal(crops.length, vector.likely.length); // those spans only, in one call
      assert.equal(crops[0].input.length, 64 * 64);
      return vector.likely.map((i) => vector.found[i]);
    };
    const remembered = new Map();
    const options = { classify, unsureBelow: 0.9, remembered };
    sameReading(await readWord(ink, vector.width, vector.height, options), vector.word);
    assert.equal(remembered.size, vector.likely.length);
    // Read again, as the pad is after a stroke elsewhere: nothing is classified twice.
    sameReading(await readWord(ink, vector.width, vector.height, options), vector.word);
    assert.equal(calls, 1);
  });
}

test("isSmall: small or thin, placed low or anywhere, as segment.is_small", () => {
  for (const c of vectors.small) {
    const [first, last, start, stop, top, bottom] = c.span;
    const span = { first, last, start, stop, top, bottom };
    assert.equal(isSmall(span, c.top, c.thickness, c.size, c.anywhere), c.small, JSON.stringify(c));
  }
});

test("topK: the k most probable classes, ties in class order, as a stable sort of all gives", () => {
  const model = { chars: Array.from({ length: 3111 }, (_, i) => `c${i}`), calibration: { unsureBelow: 0.5 } };
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let t = 0; t < 300; t++) {
    const length = [1, 3, 5, 50, 3111][t % 5], k = [1, 5, 7][t % 3];
    const levels = t % 2 ? 4 : 1000; // few levels: many ties
    const probs = Float32Array.from({ length }, () => Math.floor(random() * levels) / levels);
    const sorted = Array.from(probs.keys()).sort((a, b) => probs[b] - probs[a]).slice(0, k);
    const got = topK(model, probs, k);
    assert.deepEqual(got.map((c) => c.index), sorted);
    got.forEach((c) => {
      assert.equal(c.char, `c${c.index}`);
      assert.equal(c.sure, c.p >= 0.5);
    });
  }
});
