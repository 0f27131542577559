// kanjinet.preprocess.segment (Python) in JavaScript: a written line -> its parts and the
// spans of parts that may be characters. Integer arithmetic only, so the parts and spans
// are the ones Python finds (tests/test_read_parity.py checks them on shared pictures).
// The steps are segment.py's docstring's.

import { inkMask, toUint8 } from "./normalize.js";

const SPLIT_LENGTH = [9, 10];
const CUT_MARGIN = [1, 4];
const CUT_DEPTH = [1, 2];
const MAX_SPAN = [8, 5];
const MAX_PARTS = 4;
const SPECK = [1, 200];
const SPECK_OWNER = -2;
const PAD = [1, 4];
const BAR_LENGTH = [7, 20];
const BAR_THINNESS = [3, 10];
export const LOOSE_BAR_THINNESS = [2, 5];
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
  let lineTop = -1, lineBottom = -1;
  for (let a = 0; a < view.across; a++) {
    for (let c = 0; c < view.along; c++) {
      if (!mask[view.at(a, c)]) continue;
      if (lineTop < 0) lineTop = a;
      lineBottom = a;
      break;
    }
  }
  if (lineTop < 0) throw new Error("no ink found: nothing written");
  const { runs, labels } = components(mask, view);
  const specks = speckLabels(runs, labels, lineBottom - lineTop + 1);
  const keptRuns = runs.filter((_, i) => !specks.has(labels[i]));
  const keptSet = [...new Set(labels.filter((label) => !specks.has(label)))].sort((a, b) => a - b);
  const renumber = new Map(keptSet.map((label, i) => [label, i]));
  const keptLabels = labels.filter((label) => !specks.has(label)).map((label) => renumber.get(label));
  lineTop = keptRuns.reduce((low, run) => Math.min(low, run[0]), Infinity);
  const thickness = keptRuns.reduce((high, run) => Math.max(high, run[0]), -1) - lineTop + 1;
  const { owner, parts } = assignParts(keptRuns, keptLabels, view, thickness);
  runs.forEach(([row, start, stop], i) => {
    if (specks.has(labels[i])) for (let c = start; c < stop; c++) owner[row * view.along + c] = SPECK_OWNER;
  });
  return {
    direction, thickness, lineTop, owner,
    parts: parts.map((p) => [p[0], p[1]]),
    spans: spans(parts, thickness),
  };
}

/** Step 4's specks (segment.speck_labels): components of fewer than SPECK x T^2 pixels. */
function speckLabels(runs, labels, thickness) {
  const count = labels.reduce((high, label) => Math.max(high, label), -1) + 1;
  const area = new Array(count).fill(0);
  runs.forEach(([, start, stop], i) => { area[labels[i]] += stop - start; });
  const small = new Set();
  area.forEach((a, k) => { if (a * SPECK[1] < SPECK[0] * thickness * thickness) small.add(k); });
  return small.size === count ? new Set() : small;
}

/** Step 4: the mask's runs [row, start, stop] in raster order (line coordinates), and each
 *  run's 8-connected component, numbered from 0 in the order of their first run. */
function components(mask, view) {
  const runs = [];
  for (let a = 0; a < view.across; a++) {
    let start = -1;
    for (let c = 0; c <= view.along; c++) {
      const inked = c < view.along && mask[view.at(a, c)];
      if (inked && start < 0) start = c;
      if (!inked && start >= 0) { runs.push([a, start, c]); start = -1; }
    }
  }
  const parent = runs.map((_, i) => i);
  const root = (i) => {
    while (parent[i] !== i) { parent[i] = parent[parent[i]]; i = parent[i]; }
    return i;
  };
  let above = [], current = [], currentRow = -1;
  runs.forEach(([row, start, stop], index) => {
    if (row !== currentRow) {
      above = row === currentRow + 1 ? current : [];
      current = [];
      currentRow = row;
    }
    for (const other of above) {
      if (runs[other][1] <= stop && start <= runs[other][2]) parent[root(index)] = root(other);
    }
    current.push(index);
  });
  const number = new Map();
  const labels = runs.map((_, i) => {
    const r = root(i);
    if (!number.has(r)) number.set(r, number.size);
    return number.get(r);
  });
  return { runs, labels };
}

/** Steps 4-5 (segment.assign_parts): components grouped where they lie across from each
 *  other, long groups cut at their projection's lowest positions; parts in reading order. */
function assignParts(runs, labels, view, thickness) {
  const count = labels.reduce((high, label) => Math.max(high, label), -1) + 1;
  const extent = Array.from({ length: count }, () => [view.along, 0]);
  runs.forEach(([, start, stop], i) => {
    extent[labels[i]][0] = Math.min(extent[labels[i]][0], start);
    extent[labels[i]][1] = Math.max(extent[labels[i]][1], stop);
  });
  const order = [...Array(count).keys()].sort((a, b) => extent[a][0] - extent[b][0] || a - b);
  const groups = [];
  for (const label of order) {
    const [start, stop] = extent[label];
    const last = groups[groups.length - 1];
    if (last) {
      const inside = Math.min(last[1], stop) - Math.max(last[0], start);
      if (2 * inside >= Math.min(last[1] - last[0], stop - start)) {
        last[1] = Math.max(last[1], stop);
        last[2].push(label);
        continue;
      }
    }
    groups.push([start, stop, [label]]);
  }
  const groupOf = new Array(count).fill(0);
  groups.forEach(([, , members], g) => members.forEach((label) => { groupOf[label] = g; }));
  const pieces = [];
  groups.forEach(([start, stop], g) => {
    const projection = new Int32Array(stop - start);
    runs.forEach(([, a, b], i) => {
      if (groupOf[labels[i]] === g) for (let c = a; c < b; c++) projection[c - start] += 1;
    });
    for (const [a, b] of splitBlock(projection, thickness)) pieces.push(pieceOf(runs, labels, groupOf, g, start + a, start + b));
  });
  pieces.sort((p, q) => p[0] - q[0] || p[1] - q[1] || p[4] - q[4]);
  const owner = new Int32Array(view.across * view.along).fill(-1); // line coordinates, row-major
  pieces.forEach(([, , , , g, [a, b]], index) => {
    runs.forEach(([row, start, stop], i) => {
      if (groupOf[labels[i]] !== g || !(start < b && a < stop)) return;
      for (let c = Math.max(a, start); c < Math.min(b, stop); c++) owner[row * view.along + c] = index;
    });
  });
  return { owner, parts: pieces.map((p) => p.slice(0, 4)) };
}

/** The ink of group g between positions a and b along: [start, stop, top, bottom, g, [a, b]]. */
function pieceOf(runs, labels, groupOf, g, a, b) {
  let start = b, stop = a, top = -1, bottom = -1;
  runs.forEach(([row, s, e], i) => {
    if (groupOf[labels[i]] !== g || !(s < b && a < e)) return;
    start = Math.min(start, Math.max(a, s));
    stop = Math.max(stop, Math.min(b, e));
    if (top < 0) top = row;
    bottom = row;
  });
  return [start, stop, top, bottom, g, [a, b]];
}

/** Step 5: a long group cut at its projection's lowest positions (0-based ranges). */
function splitBlock(projection, thickness) {
  const length = projection.length;
  if (length * SPLIT_LENGTH[1] <= SPLIT_LENGTH[0] * thickness) return [[0, length]];
  const margin = Math.ceil((thickness * CUT_MARGIN[0]) / CUT_MARGIN[1]);
  let fullest = 0;
  for (const v of projection) fullest = Math.max(fullest, v);
  const shallow = [];
  for (let c = margin; c < length - margin; c++) {
    if (projection[c] * CUT_DEPTH[1] <= fullest * CUT_DEPTH[0]) shallow.push(c);
  }
  shallow.sort((a, b) => projection[a] - projection[b] || a - b);
  const cuts = [];
  for (const c of shallow) if (cuts.every((other) => Math.abs(c - other) >= margin)) cuts.push(c);
  const edges = [0, ...cuts.sort((a, b) => a - b), length];
  return edges.slice(0, -1).map((edge, i) => [edge, edges[i + 1]]);
}

/** Step 6: every run of up to MAX_PARTS parts within MAX_SPAN x T, with its ink's extent. */
function spans(parts, thickness) {
  const found = [];
  for (let first = 0; first < parts.length; first++) {
    let stop = 0, top = parts[first][2], bottom = parts[first][3];
    for (let last = first; last < Math.min(parts.length, first + MAX_PARTS); last++) {
      const start = parts[first][0];
      stop = Math.max(stop, parts[last][1]);
      top = Math.min(top, parts[last][2]);
      bottom = Math.max(bottom, parts[last][3]);
      if (last > first && (stop - start) * MAX_SPAN[1] > MAX_SPAN[0] * thickness) break;
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
export function isBar(span, thickness, thinness = BAR_THINNESS) {
  const along = span.stop - span.start, across = span.bottom - span.top + 1;
  const longEnough = along * BAR_LENGTH[1] >= BAR_LENGTH[0] * thickness;
  return longEnough && across * thinness[1] <= thinness[0] * thickness && 2 * across <= along;
}

/** A span's longer side. */
export function extent(span) {
  return Math.max(span.stop - span.start, span.bottom - span.top + 1);
}

/** Small (its longer side against `size`, the neighbours' longest side, or its extent
 *  across against the band's thickness) and placed as small kana are in the band
 *  (segment.is_small). */
export function isSmall(span, top, thickness, size, anywhere = false) {
  const small = extent(span) * SMALL_SIZE[1] <= SMALL_SIZE[0] * size;
  const thin = (span.bottom - span.top + 1) * SMALL_SIZE[1] <= SMALL_SIZE[0] * thickness;
  const placed = span.top + span.bottom - 2 * top;
  return (small || thin) && (anywhere || placed * SMALL_PLACE[1] >= 2 * SMALL_PLACE[0] * thickness);
}

/**
 * What the recogniser sees of a span (segment.span_crop): its parts' ink and the faint
 * ink no part holds, with a quarter of its longer side of paper around it, in the
 * picture's orientation; a bar along a vertical line turned across.
 * Returns { ink: Uint8Array, width, height }.
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
      const own = segmentation.owner[(span.top + a) * view.along + span.start + c];
      if (own !== -1 && (own < span.first || own > span.last)) continue; // another part's, a speck
      const value = u[view.at(span.top + a, span.start + c)];
      const r = a + pad, k = c + pad;
      out[keepLine ? r * outWidth + k : k * outWidth + r] = value;
    }
  }
  return { ink: out, width: outWidth, height: outHeight };
}
