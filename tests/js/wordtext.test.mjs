// node --test: the word pad's text (web/wordtext.js): picks kept by place while the pad
// is read again, the text built from them. Started from tests/test_web_words.py.
import assert from "node:assert/strict";
import { test } from "node:test";

import { SAME_PLACE, boxOnPad, choose, overlap, picksFor, wordText } from "../../src/kanjinet/web/wordtext.js";

function found(box, ...characters) {
  // A character as readWord reports it, probabilities falling with rank.
  return { box, candidates: characters.map((character, i) => ({ character, probability: 0.8 / (i + 1) })), sure: true };
}

test("overlap is intersection over union, 0 apart", () => {
  assert.equal(overlap([0, 0, 10, 10], [0, 0, 10, 10]), 1);
  assert.equal(overlap([0, 0, 10, 10], [5, 0, 10, 10]), 50 / 150);
  assert.equal(overlap([0, 0, 10, 10], [10, 0, 10, 10]), 0);
  assert.equal(overlap([0, 0, 10, 10], [20, 20, 5, 5]), 0);
});

test("without picks the text is each character's best candidate", () => {
  const characters = [found([0, 0, 100, 100], "田", "由"), found([120, 0, 100, 100], "山", "出")];
  assert.deepEqual(picksFor(characters, []), [null, null]);
  assert.equal(wordText(characters, picksFor(characters, [])), "田山");
});

test("a pick applies at its place and nowhere else", () => {
  const characters = [found([0, 0, 100, 100], "田", "由"), found([120, 0, 100, 100], "山", "出")];
  const picks = choose([], characters[1].box, "出");
  assert.deepEqual(picksFor(characters, picks), [null, "出"]);
  assert.equal(wordText(characters, picksFor(characters, picks)), "田出");
});

test("a pick is kept when more is written and its character grows a little", () => {
  const before = [found([0, 0, 100, 100], "田", "由"), found([120, 0, 100, 100], "山", "出")];
  const picks = choose([], before[0].box, "由");
  // A third character written; the first one's box changed by a stroke's width.
  const after = [
    found([0, 0, 104, 100], "田", "由", "甲"),
    found([120, 0, 100, 100], "山", "出"),
    found([240, 0, 100, 100], "木", "本"),
  ];
  assert.ok(overlap(before[0].box, after[0].box) >= SAME_PLACE);
  assert.equal(wordText(after, picksFor(after, picks)), "由山木");
});

test("a pick no longer offered there, or at a place now read differently, is not applied", () => {
  const picks = choose([], [0, 0, 100, 100], "由");
  // The model no longer offers 由 for what is written there.
  assert.equal(wordText([found([0, 0, 100, 100], "日", "目")], picksFor([found([0, 0, 100, 100], "日", "目")], picks)), "日");
  // Two characters merged into one wide one: not the same place.
  const merged = [found([0, 0, 220, 100], "明", "由")];
  assert.equal(wordText(merged, picksFor(merged, picks)), "明");
});

test("choosing again at the same place replaces the earlier pick", () => {
  let picks = choose([], [0, 0, 100, 100], "由");
  picks = choose(picks, [2, 0, 100, 100], "甲");
  assert.equal(picks.length, 1);
  const characters = [found([0, 0, 100, 100], "田", "由", "甲")];
  assert.equal(wordText(characters, picksFor(characters, picks)), "甲");
});

test("a box in an uploaded picture's pixels lands where the picture is shown", () => {
  assert.deepEqual(boxOnPad([10, 20, 30, 40], { scale: 0.5, left: 100, top: 0 }), [105, 10, 15, 20]);
});
