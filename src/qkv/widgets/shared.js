// Helpers every qkv widget front end uses. An anywidget module is loaded from a string (a blob URL),
// so a front end cannot import a sibling file: the Python side ships this file's text followed by the
// widget's own file as one module (qkv.widgets._common.front_end).

const SVG = "http://www.w3.org/2000/svg";

// A DOM element, or an SVG one for a tag "svg:name", with attributes and children.
function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

// Set an attribute only when its value changes: redraws then touch only what changed.
const set = (node, name, value) => { if (node.getAttribute(name) !== String(value)) node.setAttribute(name, value); };

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
// A colour scale is a list of "#rrggbb" stops, evenly spaced from one end of the scale to the other.

// Viridis, dark purple (0) to yellow (1): perceptually uniform, colour-blind safe.
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
// Diverging blue - light grey - orange (colour-blind safe), for signed values in [-1, 1].
const DIVERGING = ["#2166ac", "#92c5de", "#f7f7f7", "#fdb863", "#e66101"];

const rgb = (hex) => [1, 3, 5].map((j) => parseInt(hex.slice(j, j + 2), 16));
const toCss = ([r, g, b]) => `rgb(${r},${g},${b})`;

// The colour at t in [0, 1] along a scale, linear between its two nearest stops, as [r, g, b].
function mix(stops, t) {
  const x = t * (stops.length - 1), i = Math.min(Math.floor(x), stops.length - 2);
  const [a, b] = [rgb(stops[i]), rgb(stops[i + 1])];
  return a.map((v, j) => Math.round(v + (b[j] - v) * (x - i)));
}

// n colours evenly along a scale ([r, g, b] each), computed once: painting a cell is then one lookup.
const sample = (stops, n) => Array.from({ length: n }, (_, k) => mix(stops, k / (n - 1)));

// Viridis for t in [0, 1] (clamped), as the nearest of 256 CSS colours.
const VIRIDIS_LUT = sample(VIRIDIS, 256).map(toCss);
const viridis = (t) => VIRIDIS_LUT[Math.round(Math.min(Math.max(t, 0), 1) * 255)];

// ------------------------------------------------------------------------------- the widget's own code
