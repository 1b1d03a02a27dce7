// Helpers every qkv widget front end uses. An anywidget module is loaded from a string (a blob URL),
// so a front end cannot import a sibling file: the Python side ships one module made of
// `const PALETTE = {...};` (src/qkv/palette.json, the book's colours), this file, then the widget's own
// file (qkv.widgets._common.front_end). Each widget file has a buildControls(model) that makes its
// controls, a figure whose draw(state) paints the current setting, and a render() that wires them.

const SVG = "http://www.w3.org/2000/svg";

// A DOM element, or an SVG one for a tag "svg:name", with attributes and children. An SVG
// "font-size" becomes the custom property --fs, which widgets.css turns into a size that stays
// readable when the drawing is scaled down (see keepTextReadable).
function el(tag, attrs = {}, ...children) {
  const svg = tag.startsWith("svg:");
  const node = svg ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (svg && k === "font-size") node.style.setProperty("--fs", `${v}px`);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

// Set an attribute (or the text) only when it changes: redraws then touch only what changed.
const set = (node, name, value) => { if (node.getAttribute(name) !== String(value)) node.setAttribute(name, value); };
const setText = (node, text) => { if (node.textContent !== text) node.textContent = text; };

// The set-and-save step of every control: the model changes, and the kernel (if any) hears of it.
function save(model, changes) {
  model.set(changes);
  model.save_changes();
}

// Call `handlers[name]` whenever trait `name` changes; returns the function that stops listening.
function listen(model, handlers) {
  for (const [name, fn] of Object.entries(handlers)) model.on(`change:${name}`, fn);
  return () => { for (const [name, fn] of Object.entries(handlers)) model.off(`change:${name}`, fn); };
}

// ----------------------------------------------------------------------------------------- controls

const slider = (name, attrs = {}) => el("input", { type: "range", step: 1, ...attrs, "data-control": name });
const checkbox = (name) => el("input", { type: "checkbox", "data-control": name });
const select = (name, options = []) => el("select", { "data-control": name },
  ...options.map(([value, text]) => el("option", { value }, text)));
// A label around its text and controls; `text` may be an element (a <span> with a subscript).
const labelled = (text, ...controls) => el("label", {}, text, ...controls);
const controlRow = (...labels) => el("div", { class: "qkv-controls" }, ...labels);

// A <dl class="qkv-readouts">, one row per [name, label]; each <dd> carries data-readout="name".
// show(name, text, {label, value, hidden}) updates only what changed (value goes to data-value).
function readouts(rows) {
  const items = {};
  const dl = el("dl", { class: "qkv-readouts" }, ...rows.map(([name, label]) => {
    const dt = el("dt", {}, label), dd = el("dd", { "data-readout": name }), row = el("div", {}, dt, dd);
    items[name] = { dt, dd, row };
    return row;
  }));
  function show(name, text, { label, value, hidden = false } = {}) {
    const { dt, dd, row } = items[name];
    setText(dd, text);
    if (label !== undefined) setText(dt, label);
    if (value !== undefined) dd.dataset.value = String(value);
    row.hidden = hidden;
  }
  return { dl, show };
}

// -------------------------------------------------------------------------------------------- numbers

// x with `digits` decimals ("0.000", never "-0.000"), or a dash for a number that is not finite.
function fixed(x, digits = 3) {
  if (!Number.isFinite(x)) return "—";
  return Math.abs(x) < 0.5 * 10 ** -digits ? (0).toFixed(digits) : x.toFixed(digits);
}

// ------------------------------------------------------------------------------------------- arrays
// Arrays arrive as bytes traits of little-endian 16-bit integers, value = integer / scale, with
// -32768 for "not a number" (see qkv.widgets._common).

const NAN_CODE = -32768;

// The integers of a bytes trait (a DataView or typed array), copied so the Int16Array is aligned.
function int16s(view) {
  return new Int16Array(view.buffer.slice(view.byteOffset, view.byteOffset + view.byteLength));
}

// The values integer / scale of a bytes trait, NaN restored, as an ArrayType (float32 unless told).
function decodeInt16(view, scale, ArrayType = Float32Array) {
  return ArrayType.from(int16s(view), (v) => (v === NAN_CODE ? NaN : v / scale));
}

// ------------------------------------------------------------------------------------------ colours
// Every colour comes from PALETTE (src/qkv/palette.json). A colour scale is a list of "#rrggbb"
// stops, evenly spaced from one end of the scale to the other.

const ROLE = PALETTE.roles;

const rgb = (hex) => [1, 3, 5].map((j) => parseInt(hex.slice(j, j + 2), 16));
const toCss = ([r, g, b]) => `rgb(${r},${g},${b})`;
// A "#rrggbb" colour with an opacity, as CSS.
const withAlpha = (hex, alpha) => `rgba(${rgb(hex).join(",")},${alpha})`;

// The colour at t in [0, 1] along a scale, linear between its two nearest stops, as [r, g, b].
function mix(stops, t) {
  const x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2);
  const [a, b] = [rgb(stops[i]), rgb(stops[i + 1])];
  return a.map((v, j) => Math.round(v + (b[j] - v) * (x - i)));
}

// A scale from `lo` to `hi` as 256 colours computed once (painting a cell is one lookup): rgb(v) gives
// [r, g, b] and css(v) a CSS colour, for v clamped to [lo, hi].
function colourScale(stops, lo = 0, hi = 1) {
  const n = 256, table = Array.from({ length: n }, (_, k) => mix(stops, k / (n - 1))), css = table.map(toCss);
  const at = (v) => Math.round(((Math.min(Math.max(v, lo), hi) - lo) / (hi - lo)) * (n - 1));
  return { rgb: (v) => table[at(v)], css: (v) => css[at(v)] };
}

// Viridis (PALETTE.sequential) for weights in [0, 1]; the diverging scale for signed values in [-1, 1].
const viridis = colourScale(PALETTE.sequential).css;
const diverging = colourScale(PALETTE.diverging, -1, 1);

// ---------------------------------------------------------------------------------------- the view

// SVG text shrinks with its drawing, so on a narrow screen a 12-unit label can be 6 px tall. Each
// <svg> gets --qkv-zoom (user units per screen pixel), and widgets.css sizes its text at least
// 11 screen pixels: max(--fs, 11px x --qkv-zoom). Watches the widget's drawings for size changes.
function keepTextReadable(root) {
  const zoom = () => root.querySelectorAll("svg[viewBox]").forEach((svg) => {
    const width = svg.getBoundingClientRect().width, units = svg.viewBox.baseVal.width;
    if (width > 0 && units > 0) svg.style.setProperty("--qkv-zoom", (units / width).toFixed(4));
  });
  const observer = new ResizeObserver(zoom);
  observer.observe(root);
  root.querySelectorAll("svg").forEach((svg) => observer.observe(svg));
  return { zoom, stop: () => observer.disconnect() };
}

// The outer element of every widget: the shared class, the widget's own, and the palette's focus
// colour as --qkv-focus (widgets.css draws the keyboard focus ring with it).
function widgetRoot(name, ...children) {
  const root = el("div", { class: `qkv-widget ${name}` }, ...children);
  root.style.setProperty("--qkv-focus", PALETTE.focus);
  root.style.setProperty("--qkv-current", ROLE.query);
  return root;
}

// ------------------------------------------------------------------------------- the widget's own code
