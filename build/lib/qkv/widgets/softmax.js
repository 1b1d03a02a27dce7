// Softmax saturation: the softmax over n keys of q·k for random standard-normal q, k in d_k dimensions.
// Python ships q [1024] and the keys [max_keys, 1024] as 16-bit integers (value = int / quantum);
// this file computes the logits for the chosen prefix of dimensions, the softmax and its readouts,
// with the same formulas as qkv.softmax (so the numbers agree with Python's).


// A bar's colour: viridis at its probability, interpolated exactly (few bars, no lookup table needed).
const barColour = (p) => toCss(mix(PALETTE.sequential, Math.min(Math.max(p, 0), 1)));

// Numbers as the readouts show them: 4 significant digits, exponent form below 0.001.
export function fmt(x) {
  if (!Number.isFinite(x)) return "—";
  if (x === 0) return "0";
  return Math.abs(x) >= 1e-3 ? x.toPrecision(4) : x.toExponential(3);
}

// The same computation as qkv.saturation.saturation, in float64.
export function saturation(q, k, dim, d, n, scaled) {
  const logits = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (let i = 0; i < d; i++) s += k[j * dim + i] * q[i];
    logits[j] = scaled ? s / Math.sqrt(d) : s;
  }
  const top = Math.max(...logits);
  const e = logits.map((z) => Math.exp(z - top));
  const total = e.reduce((a, b) => a + b, 0);
  const p = e.map((v) => v / total);
  let entropy = 0;
  for (const v of p) if (v > 0) entropy -= v * Math.log(v);
  // Largest |entry| of diag(p) - p p^T: p_i (1 - p_i) with 1 - p_i summed from the other p_j
  // (accurate when p_i is close to 1), or p_i p_j for the two largest probabilities.
  let diagonal = 0;
  for (let i = 0; i < n; i++) {
    let others = 0;
    for (let j = 0; j < n; j++) if (j !== i) others += p[j];
    diagonal = Math.max(diagonal, p[i] * others);
  }
  const sorted = Array.from(p).sort((a, b) => b - a);
  const offDiagonal = n > 1 ? sorted[0] * sorted[1] : 0;
  const mean = logits.reduce((a, b) => a + b, 0) / n;
  const spread = Math.sqrt(logits.reduce((a, z) => a + (z - mean) ** 2, 0) / n);
  return { logits, p, maxProb: sorted[0], entropy, jacobian: Math.max(diagonal, offDiagonal), spread };
}

// The sliders and the checkbox; show(state) puts the current setting into them.
function buildControls(model) {
  const choices = model.get("d_k_choices");
  const dk = slider("d_k", { min: 0, max: choices.length - 1 }), dkOut = el("output");
  const scaled = checkbox("scaled");
  const keys = slider("num_keys", { min: 1, max: model.get("max_keys") }), keysOut = el("output");
  dk.addEventListener("input", () => save(model, { d_k: choices[Number(dk.value)] }));
  scaled.addEventListener("change", () => save(model, { scaled: scaled.checked }));
  keys.addEventListener("input", () => save(model, { num_keys: Number(keys.value) }));
  const element = controlRow(
    labelled(el("span", {}, "dimension d", el("sub", {}, "k")), dk, dkOut),
    labelled(scaled, el("span", {}, "divide the scores by √d", el("sub", {}, "k"))),
    labelled("keys", keys, keysOut));
  function show({ d, n, scaled: on }) {
    dk.value = Math.max(0, choices.indexOf(d));
    dk.setAttribute("aria-valuetext", `d_k = ${d}`);
    dkOut.value = String(d);
    scaled.checked = on;
    keys.value = n;
    keysOut.value = String(n);
  }
  return { element, show };
}

// The bar chart of the probabilities (narrower on a narrow screen, so its text stays readable).
function buildFigure() {
  const svg = el("svg:svg", { role: "img", "aria-label": "the softmax weight of each key", "data-drawing": "bars" });
  const axis = el("svg:g", { "font-size": 12 }), bars = el("svg:g");
  const uniform = el("svg:line", { stroke: "currentColor", "stroke-dasharray": "5 4", "stroke-width": 1.2 });
  const xlabel = el("svg:text", { "text-anchor": "middle", "font-size": 12 });
  svg.append(axis, bars, uniform, xlabel);
  const table = readouts([["max-prob", "largest probability"], ["entropy", "entropy (nats)"],
    ["jacobian", "largest |entry| of the Jacobian"], ["spread", "spread of the scores (std)"]]);
  const note = el("p", { class: "qkv-note", "aria-live": "polite" });
  let width = 0;

  function layout(W) {
    width = W;
    const H = 240, left = 54, right = 10, top = 12, bottom = 34;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    axis.replaceChildren();
    for (const t of [0, 0.25, 0.5, 0.75, 1]) {
      const y = top + (1 - t) * (H - top - bottom);
      const grid = withAlpha(PALETTE.roles.neutral, 0.33);
      axis.append(el("svg:line", { x1: left, x2: W - right, y1: y, y2: y, stroke: grid }),
        el("svg:text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(t)));
    }
    const middle = (top + H - bottom) / 2;
    axis.append(el("svg:text", { transform: `translate(12,${middle}) rotate(-90)`, "text-anchor": "middle" },
      "probability"));
    set(xlabel, "x", (left + W - right) / 2);
    set(xlabel, "y", H - 6);
    return { W, H, left, right, top, bottom };
  }

  function draw({ d, n, scaled, s, narrow }) {
    const { W, left, right, top, H, bottom } = layout(narrow ? 360 : 600);
    const plotW = W - left - right, plotH = H - top - bottom, slot = plotW / n;
    bars.replaceChildren(...Array.from(s.p, (p, j) => el("svg:rect", {
      x: left + j * slot + slot * 0.1, width: Math.max(slot * 0.8, 0.5),
      y: top + (1 - p) * plotH, height: Math.max(p * plotH, 0), fill: barColour(p),
    }, el("svg:title", {}, `key ${j + 1}: p = ${fmt(p)}`))));
    const yu = top + (1 - 1 / n) * plotH;
    Object.entries({ x1: left, x2: W - right, y1: yu, y2: yu }).forEach(([a, v]) => set(uniform, a, v));
    setText(xlabel, `${n} key${n > 1 ? "s" : ""} (dashed: uniform, 1/${n})`);
    svg.setAttribute("aria-label",
      `Softmax over ${n} keys, d_k = ${d}, ${scaled ? "scaled" : "not scaled"}: largest probability ${fmt(s.maxProb)}`);
    // Shown with 4 significant digits; the full values ride along in data-value (the tests read them).
    table.show("max-prob", fmt(s.maxProb), { value: s.maxProb });
    table.show("entropy", `${fmt(s.entropy)} (uniform: ${fmt(Math.log(n))})`, { value: s.entropy });
    table.show("jacobian", fmt(s.jacobian), { value: s.jacobian });
    table.show("spread", fmt(s.spread), { value: s.spread });
    note.textContent = n === 1 ? "One key gets all the weight whatever the score: nothing to learn."
      : s.maxProb > 0.99
        ? "Saturated: one key takes almost all the weight and the gradient through the softmax nearly vanishes."
        : scaled ? "Scaled: the scores have about unit spread for every d_k."
          : "Unscaled: the spread of the scores grows like √d_k.";
  }
  return { elements: [svg, table.dl, note], draw, width: () => width };
}

function render({ model, el: root }) {
  let q, k;
  const load = () => {
    q = decodeInt16(model.get("q"), model.get("quantum"), Float64Array);
    k = decodeInt16(model.get("k"), model.get("quantum"), Float64Array);
  };
  const controls = buildControls(model), figure = buildFigure();
  const widget = widgetRoot("qkv-softmax", controls.element, ...figure.elements);
  root.append(widget);
  const narrow = () => widget.clientWidth > 0 && widget.clientWidth < 480;

  function update() {
    const state = { d: model.get("d_k"), n: model.get("num_keys"), scaled: model.get("scaled"), narrow: narrow() };
    state.s = saturation(q, k, q.length, state.d, state.n, state.scaled);
    controls.show(state);
    figure.draw(state);
    text.zoom();
  }
  load();
  const text = keepTextReadable(widget);
  // Redraw when the widget crosses the narrow width (the chart's layout changes, not just its scale).
  const resize = new ResizeObserver(() => { if ((figure.width() === 360) !== narrow()) update(); });
  resize.observe(widget);
  update();
  const stop = listen(model, { d_k: update, scaled: update, num_keys: update, q: () => { load(); update(); },
    k: () => { load(); update(); } });
  return () => { stop(); text.stop(); resize.disconnect(); };
}

export default { render };
