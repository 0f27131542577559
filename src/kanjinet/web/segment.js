// kanjinet.preprocess.segment (Python) in JavaScript: a written line -> its parts and the
// spans of parts that may be characters. Integer arithmetic only, so the parts and spans
// are the ones Python finds (tests/test_read_parity.py checks them on shared pictures).
// The steps are segment.py's docstring's.

import { inkMask, toUint8 } from "./preprocess.js";

const SPLIT_LENGTH = [9, 10];
const CUT_MARGIN = [1, 4];
const CUT_DEPTH = [1, 2];
const MAX_SPAN = [8, 5];
const MAX_PARTS = 4;
const PAD = [1, 4];
const BAR_LENGTH = [7, 20];
const BAR_THINNESS = [3, 10];
const SMALL_SIZE = [17, 20];
const SMALL_PLACE = [57, 100];

/** Step 2: "horizontal" where the ink's box is at least as wide as it is tall. */
export function lineDirection(mask, width, height) {
  let top = height, bottom = -1, left = width, right = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!mask[y * width + x]) continue;
      top = Math.min(top, y); bottom = Math.max(bottom, y);
      left = Math.min(left, x); right = Math.max(right, x);
    }
  }
  if (bottom < 0) return "horizontal";
  return right - left + 1 >= bottom - top + 1 ? "horizontal" : "vertical";
}

/** Line coordinates: (across, along) -> the pixel index, and the line's two extents. */
function lineView(width, height, direction) {
  if (direction === "horizontal") return { along: width, across: height, at: (a, c) => a * width + c };
  return { along: height, across: width, at: (a, c) => c * width + a };
}

/** Steps 1-6 for ink-high pixels (Uint8Array or 0..1 floats, row-major width x height). */
export function segment(ink, width, height, direction = "auto") {
  const mask = inkMask(toUint8(ink), width, height);
  if (direction === "auto") direction = lineDirection(mask, width, height);
  if (direction !== "horizontal" && direction !== "vertical") {
    throw new Error(`direction ${direction}: expected auto, horizontal or vertical`);
  }
  const view = lineView(width, height, direction);
  const projection = new Int32Array(view.along);
  let lineTop = -1, lineBottom = -1;
  for (let a = 0; a < view.across; a++) {
    for (let c = 0; c < view.along; c++) {
      if (!mask[view.at(a, c)]) continue;
      projection[c] += 1;
      if (lineTop < 0) lineTop = a;
      lineBottom = a;
    }
  }
  if (lineTop < 0) throw new Error("no ink found: nothing written");
  const thickness = lineBottom - lineTop + 1;
  const parts = blocks(projection).flatMap((block) => splitBlock(projection, block, thickness));
  return { direction, thickness, lineTop, parts, spans: spans(mask, view, parts, thickness) };
}

/** Step 4: [start, stop] of each run of inked positions. */
function blocks(projection) {
  const found = [];
  let start = -1;
  for (let c = 0; c <= projection.length; c++) {
    const inked = c < projection.length && projection[c] > 0;
    if (inked && start < 0) start = c;
    if (!inked && start >= 0) { found.push([start, c]); start = -1; }
  }
  return found;
}

/** Step 5: a long block cut at its projection's lowest positions. */
function splitBlock(projection, [start, stop], thickness) {
  if ((stop - start) * SPLIT_LENGTH[1] <= SPLIT_LENGTH[0] * thickness) return [[start, stop]];
  const margin = Math.ceil((thickness * CUT_MARGIN[0]) / CUT_MARGIN[1]);
  let fullest = 0;
  for (let c = start; c < stop; c++) fullest = Math.max(fullest, projection[c]);
  const shallow = [];
  for (let c = start + margin; c < stop - margin; c++) {
    if (projection[c] * CUT_DEPTH[1] <= fullest * CUT_DEPTH[0]) shallow.push(c);
  }
  shallow.sort((a, b) => projection[a] - projection[b] || a - b);
  const cuts = [];
  for (const c of shallow) if (cuts.every((other) => Math.abs(c - other) >= margin)) cuts.push(c);
  const edges = [start, ...cuts.sort((a, b) => a - b), stop];
  return edges.slice(0, -1).map((edge, i) => [edge, edges[i + 1]]);
}

/** Step 6: every run of up to MAX_PARTS parts within MAX_SPAN x T, with its ink's extent. */
function spans(mask, view, parts, thickness) {
  const found = [];
  for (let first = 0; first < parts.length; first++) {
    for (let last = first; last < Math.min(parts.length, first + MAX_PARTS); last++) {
      const start = parts[first][0], stop = parts[last][1];
      if (last > first && (stop - start) * MAX_SPAN[1] > MAX_SPAN[0] * thickness) break;
      let top = -1, bottom = -1;
      for (let a = 0; a < view.across; a++) {
        for (let c = start; c < stop; c++) {
          if (!mask[view.at(a, c)]) continue;
          if (top < 0) top = a;
          bottom = a;
          break;
        }
      }
      found.push({ first, last, start, stop, top, bottom });
    }
  }
  return found;
}

/** A span's [x, y, width, height] in the picture's pixels. */
export function spanBox(span, direction) {
  const along = span.stop - span.start, across = span.bottom - span.top + 1;
  return direction === "horizontal" ? [span.start, span.top, along, across] : [span.top, span.start, across, along];
}

/** A thin straight stroke along the writing direction (segment.is_bar). */
export function isBar(span, thickness) {
  const along = span.stop - span.start, across = span.bottom - span.top + 1;
  const longEnough = along * BAR_LENGTH[1] >= BAR_LENGTH[0] * thickness;
  return longEnough && across * BAR_THINNESS[1] <= BAR_THINNESS[0] * thickness && 2 * across <= along;
}

/** A span's longer side. */
export function extent(span) {
  return Math.max(span.stop - span.start, span.bottom - span.top + 1);
}

/** Small (against `size`, the neighbours' longest side) and placed as small kana are in the band (segment.is_small). */
export function isSmall(span, top, thickness, size, anywhere = false) {
  const small = extent(span) * SMALL_SIZE[1] <= SMALL_SIZE[0] * size;
  const placed = span.top + span.bottom - 2 * top;
  return small && (anywhere || placed * SMALL_PLACE[1] >= 2 * SMALL_PLACE[0] * thickness);
}

/**
 * What the recogniser sees of a span (segment.span_crop): its ink with a quarter of its
 * longer side of paper around it, in the picture's orientation; a bar along a vertical
 * line turned across. Returns { ink: Uint8Array, width, height }.
 */
export function spanCrop(ink, width, height, span, segmentation) {
  const u = toUint8(ink);
  const view = lineView(width, height, segmentation.direction);
  const across = span.bottom - span.top + 1, along = span.stop - span.start;
  const pad = Math.floor((Math.max(across, along) * PAD[0]) / PAD[1]);
  const rows = across + 2 * pad, cols = along + 2 * pad; // in line coordinates
  const turned = segmentation.direction === "vertical" && isBar(span, segmentation.thickness);
  // Picture orientation: horizontal lines as they are, vertical ones transposed back,
  // unless turned (then they stay in line coordinates: the bar lies across).
  const keepLine = segmentation.direction === "horizontal" || turned;
  const outWidth = keepLine ? cols : rows, outHeight = keepLine ? rows : cols;
  const out = new Uint8Array(outWidth * outHeight);
  for (let a = 0; a < across; a++) {
    for (let c = 0; c < along; c++) {
      const value = u[view.at(span.top + a, span.start + c)];
      const r = a + pad, k = c + pad;
      out[keepLine ? r * outWidth + k : k * outWidth + r] = value;
    }
  }
  return { ink: out, width: outWidth, height: outHeight };
}
