// The word pad's text: the characters reading.js found, with the person's picks applied.
// No DOM here (node's test runner checks it: tests/js/wordtext.test.mjs).
//
// A pick is { box: [x, y, w, h], character }: the person chose `character` for what is
// written in `box` (pad pixels). Each stroke re-reads the whole pad, so a pick is kept by
// place, not by position in the text: it applies to the character found at the same
// place, as long as the model still offers the picked character there.

// Boxes overlapping at least this much (intersection over union) are the same place:
// a character grown by a stroke stays the same, its neighbour does not.
export const SAME_PLACE = 0.5;

/** Intersection over union of two [x, y, w, h] boxes (0 when either is empty). */
export function overlap(a, b) {
  const width = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  if (width <= 0 || height <= 0) return 0;
  const shared = width * height;
  return shared / (a[2] * a[3] + b[2] * b[3] - shared);
}

/** For each character (with its box in pad pixels), the pick that applies to it, else null. */
export function picksFor(characters, picks) {
  return characters.map((found) => {
    let best = null;
    let bestOverlap = SAME_PLACE;
    for (const pick of picks) {
      const amount = overlap(pick.box, found.box);
      const offered = found.candidates.some((c) => c.character === pick.character);
      if (offered && amount >= bestOverlap) {
        best = pick.character;
        bestOverlap = amount;
      }
    }
    return best;
  });
}

/** The picks after choosing `character` for the one at `box`: it replaces picks there. */
export function choose(picks, box, character) {
  return [...picks.filter((pick) => overlap(pick.box, box) < SAME_PLACE), { box, character }];
}

/** The text: each character's pick, else its most probable candidate. */
export function wordText(characters, picked) {
  return characters.map((found, i) => picked[i] ?? found.candidates[0]?.character ?? "").join("");
}

/** A box in picture pixels, in pad pixels: the picture is shown scaled by `scale`, from (left, top). */
export function boxOnPad(box, { scale, left, top }) {
  return [left + box[0] * scale, top + box[1] * scale, box[2] * scale, box[3] * scale];
}
