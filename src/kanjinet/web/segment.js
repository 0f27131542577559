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
const PATH_REACH = [1, 4];
const SEVER = 8;
const STEP = 1;
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
  // Each group's pixels (line coordinates), cut into pieces (segment.cut_group).
  const pixels = groups.map(() => ({ rows: [], along: [] }));
  runs.forEach(([row, start, stop], i) => {
    const mine = pixels[groupOf[labels[i]]];
    for (let c = start; c < stop; c++) { mine.rows.push(row); mine.along.push(c); }
  });
  const pieces = []; // [start, stop, top, bottom, group, piece]
  const pieceOf = pixels.map(({ rows, along }, g) => {
    const start = groups[g][0];
    const piece = cutGroup(rows, along.map((c) => c - start), groups[g][1] - start, thickness);
    const found = new Map();
    piece.forEach((k, i) => {
      const p = found.get(k) ?? [view.along, 0, view.across, 0, g, k];
      p[0] = Math.min(p[0], along[i]); p[1] = Math.max(p[1], along[i] + 1);
      p[2] = Math.min(p[2], rows[i]); p[3] = Math.max(p[3], rows[i]);
      found.set(k, p);
    });
    pieces.push(...found.values());
    return piece;
  });
  pieces.sort((p, q) => p[0] - q[0] || p[1] - q[1] || p[4] - q[4] || p[5] - q[5]);
  const rank = new Map(pieces.map((p, index) => [`${p[4]}/${p[5]}`, index]));
  const owner = new Int32Array(view.across * view.along).fill(-1); // line coordinates, row-major
  pixels.forEach(({ rows, along }, g) => {
    rows.forEach((row, i) => { owner[row * view.along + along[i]] = rank.get(`${g}/${pieceOf[g][i]}`); });
  });
  return { owner, parts: pieces.map((p) => p.slice(0, 4)) };
}

/** segment.cut_group: the piece of each of a group's pixels (rows, positions along from its
 *  start): cut at the projection's lowest positions, each cut along its cheapest path. */
function cutGroup(rows, along, length, thickness) {
  const top = rows.reduce((low, r) => Math.min(low, r), Infinity);
  const height = rows.reduce((high, r) => Math.max(high, r), -1) - top + 1;
  const grid = new Uint8Array(height * length);
  const projection = new Int32Array(length);
  rows.forEach((r, i) => { grid[(r - top) * length + along[i]] = 1; projection[along[i]] += 1; });
  const cuts = splitBlock(projection, thickness).slice(1).map(([a]) => a);
  const bounds = [1, ...cuts.slice(1).map((b, i) => Math.floor((cuts[i] + b) / 2) + 1), length];
  const reach = Math.floor((PATH_REACH[0] * thickness) / PATH_REACH[1]);
  const piece = new Array(rows.length).fill(0);
  cuts.forEach((cut, k) => {
    const path = cutPath(grid, height, length, cut, Math.max(bounds[k], cut - reach), Math.min(bounds[k + 1], cut + reach + 1));
    rows.forEach((r, i) => { if (along[i] >= path[r - top]) piece[i] += 1; });
  });
  return piece;
}

/** segment.cut_path: per row, where the cut falls: top to bottom, one position left, right
 *  or straight on per row within low..high-1, severing as little ink as it can. */
function cutPath(grid, height, length, cut, low, high) {
  const width = high - low;
  const severs = (row, x) => (grid[row * length + low + x - 1] && grid[row * length + low + x] ? SEVER : 0);
  let cost = Array.from({ length: width }, (_, x) => severs(0, x));
  const came = Array.from({ length: height }, () => new Int8Array(width));
  for (let row = 1; row < height; row++) {
    const next = new Array(width);
    for (let x = 0; x < width; x++) {
      let best = cost[x], choice = 0;
      if (x > 0 && cost[x - 1] + STEP < best) { best = cost[x - 1] + STEP; choice = -1; }
      if (x < width - 1 && cost[x + 1] + STEP < best) { best = cost[x + 1] + STEP; choice = 1; }
      next[x] = best + severs(row, x);
      came[row][x] = choice;
    }
    cost = next;
  }
  let at = 0;
  cost.forEach((c, x) => {
    const nearer = Math.abs(x + low - cut) < Math.abs(at + low - cut);
    if (c < cost[at] || (c === cost[at] && nearer)) at = x;
  });
  const path = new Int32Array(height);
  for (let row = height - 1; row >= 0; row--) {
    path[row] = at + low;
    at += came[row][at];
  }
  return path;
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
