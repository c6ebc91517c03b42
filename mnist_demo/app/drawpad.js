// The Draw tab's pad (runs as gr.HTML's js_on_load: `element`, `props`, `trigger` come from Gradio).
//
// It draws on a plain 2D canvas and sends the strokes themselves (mnist_demo/sketch.py reads them):
// a few kB of JSON the moment a stroke ends, and every LIVE_MS while one is being drawn, so the
// answer follows the pen instead of waiting seconds for an exported image.
const pad = element.querySelector(".pad");
const SIZE = Number(pad.dataset.size || 800);       // the coordinate space the server gets: DrawPad(size=...)
const LIVE_MS = 150;                                 // how often a stroke in progress is sent
const MIN_STEP = 1.5 * SIZE / 800;                   // closer points add nothing (1.5 px of an 800 px pad)
const canvas = element.querySelector("canvas");
const ctx = canvas.getContext("2d");
const brushInput = element.querySelector(".pad-brush");
const hint = element.querySelector(".pad-hint");
let strokes = [];       // finished strokes: {r, points: [[x, y], ...]}, canvas px
let current = null;     // the stroke being drawn
let version = 0;        // counts values sent; the answer echoes it back
let lastSent = 0;
let trailing = null;    // a send scheduled for the end of the LIVE_MS window, so a resting pen is read too

function brush() { return Number(brushInput.value); }

function fit() {
  // Backing store at device pixels, so strokes are as sharp as the screen allows.
  const side = Math.round(canvas.getBoundingClientRect().width * (window.devicePixelRatio || 1));
  if (side > 0 && canvas.width !== side) { canvas.width = side; canvas.height = side; redraw(); }
}

function paint(stroke) {
  const p = stroke.points;
  ctx.lineWidth = 2 * stroke.r;
  ctx.beginPath();
  if (p.length === 1) {
    ctx.arc(p[0][0], p[0][1], stroke.r, 0, 2 * Math.PI);
    ctx.fill();
    return;
  }
  ctx.moveTo(p[0][0], p[0][1]);
  for (let i = 1; i < p.length; i++) ctx.lineTo(p[i][0], p[i][1]);
  ctx.stroke();
}

function redraw() {
  const k = canvas.width / SIZE;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(k, 0, 0, k, 0, 0);
  ctx.fillStyle = ctx.strokeStyle = "#000000";
  ctx.lineCap = ctx.lineJoin = "round";
  for (const s of strokes) paint(s);
  if (current) paint(current);
  hint.hidden = strokes.length > 0 || current !== null;
  pad.dataset.strokes = String(strokes.length);
}

function send() {
  clearTimeout(trailing);
  trailing = null;
  version += 1;
  const all = current ? strokes.concat([current]) : strokes;
  const sent = JSON.stringify({size: SIZE, version: version, strokes: all});
  pad.dataset.version = String(version);
  lastSent = performance.now();
  props.value = sent;  // Gradio fires the pad's `change` event for a new value
}

function at(e) {
  const box = canvas.getBoundingClientRect();
  const x = (e.clientX - box.left) * SIZE / box.width, y = (e.clientY - box.top) * SIZE / box.height;
  return [Math.round(x * 10) / 10, Math.round(y * 10) / 10];
}

canvas.addEventListener("pointerdown", (e) => {
  if (e.pointerType === "mouse" && e.button !== 0) return;
  e.preventDefault();
  canvas.setPointerCapture(e.pointerId);
  current = {r: brush(), points: [at(e)]};
  redraw();
  send();
});

canvas.addEventListener("pointermove", (e) => {
  if (!current) return;
  e.preventDefault();
  const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
  for (const ev of (events.length ? events : [e])) {
    const p = at(ev), last = current.points[current.points.length - 1];
    if (Math.hypot(p[0] - last[0], p[1] - last[1]) >= MIN_STEP) current.points.push(p);
  }
  redraw();
  const wait = LIVE_MS - (performance.now() - lastSent);
  if (wait <= 0) send();
  else if (trailing === null) trailing = setTimeout(() => { trailing = null; if (current) send(); }, wait);
});

function finish(e) {
  if (!current) return;
  if (e.type === "pointerup") {
    const p = at(e), last = current.points[current.points.length - 1];
    if (p[0] !== last[0] || p[1] !== last[1]) current.points.push(p);
  }
  strokes.push(current);
  current = null;
  redraw();
  send();
}
canvas.addEventListener("pointerup", finish);
canvas.addEventListener("pointercancel", finish);

function undo() { if (strokes.length) { strokes.pop(); redraw(); send(); } }
function clear() { if (strokes.length) { strokes = []; redraw(); send(); } }
element.querySelector(".pad-undo").addEventListener("click", undo);
element.querySelector(".pad-clear").addEventListener("click", clear);
document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof HTMLElement && e.target.closest("input, textarea, [contenteditable]");
  if (typing || !element.isConnected) return;
  if ((e.ctrlKey || e.metaKey) && !e.shiftKey && e.key.toLowerCase() === "z") { e.preventDefault(); undo(); }
});

new ResizeObserver(fit).observe(canvas);
fit();
redraw();
pad.dataset.ready = "true";
