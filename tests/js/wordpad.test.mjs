// node --test: a word read as the word pad reads it (model.js's loadModel and wordReader,
// reading.js's readWord, onnxruntime-web's WASM build from a web-build) gives what
// Recognizer.read gave in Python. Started from tests/test_web_words.py with
// $KANJINET_SITE (the built site) and $KANJINET_WORDS (the pictures and Python's answers).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";
import { pathToFileURL } from "node:url";

import { fetchJSON, loadModel, wordReader } from "../../src/kanjinet/web/model.js";
import { readWord } from "../../src/kanjinet/web/reading.js";

const site = process.env.KANJINET_SITE;
const cases = JSON.parse(readFileSync(process.env.KANJINET_WORDS, "utf8"));

// What the browser gives the page: onnxruntime-web (the page's script tag), the page's
// address, and fetch, which reads the built site's files here.
globalThis.ort = createRequire(`${site}/`)("./ort/ort.wasm.min.js");
globalThis.location = { href: pathToFileURL(`${site}/`).href };
globalThis.fetch = async (url) => new Response(readFileSync(new URL(url, location.href)));

const config = await fetchJSON("config.json");
const model = await loadModel(config.word, config.ort_dir);

for (const word of cases) {
  test(`${word.name}: the page reads what Python reads`, async () => {
    const grey = new Uint8Array(Buffer.from(word.ink, "base64"));
    const options = { direction: word.direction, ...wordReader(model, word.top_k) };
    const got = await readWord(grey, word.width, word.height, options);
    assert.equal(got.text, word.expected.text);
    assert.equal(got.direction, word.expected.direction);
    assert.equal(got.characters.length, word.expected.characters.length);
    got.characters.forEach((found, i) => {
      const want = word.expected.characters[i];
      assert.deepEqual(found.box, want.box, `character ${i}: box`);
      assert.equal(found.sure, want.sure, `character ${i}: sure`);
      assert.deepEqual(found.candidates.map((c) => c.character), want.candidates.map((c) => c.character));
      found.candidates.forEach((c, k) => {
        // WASM and native kernels differ in the last bits of the logits.
        assert.ok(Math.abs(c.probability - want.candidates[k].probability) < 1e-4, `${c.character}: ${c.probability}`);
      });
    });
  });
}
