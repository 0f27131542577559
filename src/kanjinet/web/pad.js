// What both pads (app.js's single character, words.js's word) do alike: taking strokes,
// drawing them with a round pen, reading the pad again when it changes, copying the answer.

/**
 * Takes strokes written on `canvas` with mouse, pen or finger: each goes, as a list of
 * canvas pixels, into the list `strokes()` returns, and `changed` is told "start",
 * "move" and "end" as it is written.
 */
export function takeStrokes(canvas, strokes, changed) {
  let drawing = null;
  canvas.addEventListener("pointerdown", (event) => {
    if (event.button !== 0) return;
    canvas.setPointerCapture(event.pointerId);
    drawing = padPoints(canvas, event).slice(-1);
    strokes().push(drawing);
    changed("start");
    event.preventDefault();
  });
  canvas.addEventListener("pointermove", (event) => {
    if (!drawing) return;
    drawing.push(...padPoints(canvas, event));
    changed("move");
  });
  const end = () => {
    if (!drawing) return;
    drawing = null;
    changed("end");
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
}

/** The canvas pixels under a pointer event, and under the events it coalesces. */
function padPoints(canvas, event) {
  // Coalesced events keep fast pen strokes smooth.
  const coalesced = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  const rect = canvas.getBoundingClientRect();
  return (coalesced.length ? coalesced : [event]).map((e) => [
    ((e.clientX - rect.left) * canvas.width) / rect.width,
    ((e.clientY - rect.top) * canvas.height) / rect.height,
  ]);
}

/** Black polylines `width` pixels wide with round ends and joins. */
function drawStrokes(context, strokes, width) {
  context.strokeStyle = "#000";
  context.lineWidth = width;
  context.lineCap = "round";
  context.lineJoin = "round";
  for (const points of strokes) {
    context.beginPath();
    context.moveTo(points[0][0], points[0][1]);
    // A lone tap still leaves a dot: a zero-length segment with round caps.
    for (const [x, y] of points.length > 1 ? points.slice(1) : points) context.lineTo(x, y);
    context.stroke();
  }
}

/** Where an uploaded picture is shown on a canvas: scaled to fit, centred. */
export function pictureFrame(picture, canvas) {
  const { width, height } = picture;
  const scale = Math.min(canvas.width / width, canvas.height / height);
  return { scale, left: (canvas.width - width * scale) / 2, top: (canvas.height - height * scale) / 2 };
}

/** White paper, the uploaded picture (if any) where pictureFrame puts it, then the strokes. */
export function drawPad(context, picture, strokes, strokeWidth) {
  const { canvas } = context;
  context.fillStyle = "#fff";
  context.fillRect(0, 0, canvas.width, canvas.height);
  if (picture) {
    const { scale, left, top } = pictureFrame(picture, canvas);
    context.drawImage(picture.bitmap, left, top, picture.width * scale, picture.height * scale);
  }
  drawStrokes(context, strokes, strokeWidth);
}

/**
 * `schedule(delay)` runs `work` once `delay` ms have passed without another call, one
 * run at a time: a run asked for during one follows it. `setIdle(idle)` is told whether
 * nothing is running or waiting, so that a test can wait for the answer to match the pad.
 * `schedule.cancel()` drops the waiting run.
 */
export function scheduler(work, setIdle, debounceMs) {
  let timer = 0;
  let busy = false;
  let again = false;
  const run = async () => {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      await work();
    } finally {
      busy = false;
      if (again) {
        again = false;
        schedule(0);
      } else {
        setIdle(true);
      }
    }
  };
  const schedule = (delay = debounceMs) => {
    setIdle(false);
    clearTimeout(timer);
    timer = setTimeout(run, delay);
  };
  schedule.cancel = () => clearTimeout(timer);
  return schedule;
}

/** Copies `text` to the clipboard and says so in `hint`. */
export async function copyText(text, hint) {
  try {
    await navigator.clipboard.writeText(text);
    hint.textContent = `Copied ${text}`;
  } catch {
    // Clipboard API needs a secure context; plain http hosts get the text to copy by hand.
    hint.textContent = `Copy this: ${text}`;
  }
}
