// Softmax saturation: the softmax over n keys of q·k for random standard-normal q, k in d_k dimensions.
// Python ships q [1024] and the keys [max_keys, 1024] as 16-bit integers (value = int / quantum);
// this file computes the logits for the chosen prefix of dimensions, the softmax and its readouts,
// with the same formulas as qkv.softmax (so the numbers agree with Python's).

// A bar's colour: viridis at its probability, interpolated exactly (few bars, no lookup table needed).
const barColour = (p) => toCss(mix(VIRIDIS, Math.min(Math.max(p, 0), 1)));

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

function render({ model, el: root }) {
  const choices = model.get("d_k_choices");
  const maxKeys = model.get("max_keys");
  let q, k;
  const load = () => {
    q = decodeInt16(model.get("q"), model.get("quantum"), Float64Array);
    k = decodeInt16(model.get("k"), model.get("quantum"), Float64Array);
  };
  load();

  const dkInput = el("input", { type: "range", min: 0, max: choices.length - 1, step: 1, "data-control": "d_k" });
  const dkOut = el("output");
  const scaledInput = el("input", { type: "checkbox", "data-control": "scaled" });
  const keysInput = el("input", { type: "range", min: 1, max: maxKeys, step: 1, "data-control": "num_keys" });
  const keysOut = el("output");
  const controls = el("div", { class: "qkv-controls" },
    el("label", {}, el("span", {}, "dimension d", el("sub", {}, "k")), dkInput, dkOut),
    el("label", {}, scaledInput, el("span", {}, "divide the scores by √d", el("sub", {}, "k"))),
    el("label", {}, "keys", keysInput, keysOut));

  const W = 600, H = 240, left = 54, right = 10, top = 12, bottom = 34;
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "data-drawing": "bars" });
  const bars = el("svg:g");
  const uniform = el("svg:line", { stroke: "currentColor", "stroke-dasharray": "5 4", "stroke-width": 1.2 });
  const axis = el("svg:g", { "font-size": 12 });
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + (1 - t) * (H - top - bottom);
    axis.append(el("svg:line", { x1: left, x2: W - right, y1: y, y2: y, stroke: "#9995" }),
      el("svg:text", { x: left - 6, y: y + 4, "text-anchor": "end" }, String(t)));
  }
  axis.append(el("svg:text", { transform: `translate(12,${(top + H - bottom) / 2}) rotate(-90)`, "text-anchor": "middle" }, "probability"));
  const xlabel = el("svg:text", { x: (left + W - right) / 2, y: H - 6, "text-anchor": "middle", "font-size": 12 });
  svg.append(axis, bars, uniform, xlabel);

  const readout = (name, label) => {
    const dd = el("dd", { "data-readout": name });
    return [el("div", {}, el("dt", {}, label), dd), dd];
  };
  const [maxRow, maxOut] = readout("max-prob", "largest probability");
  const [entRow, entOut] = readout("entropy", "entropy (nats)");
  const [jacRow, jacOut] = readout("jacobian", "largest |entry| of the Jacobian");
  const [sprRow, sprOut] = readout("spread", "spread of the scores (std)");
  const readouts = el("dl", { class: "qkv-readouts" }, maxRow, entRow, jacRow, sprRow);
  const note = el("p", { class: "qkv-note", "aria-live": "polite" });
  root.append(el("div", { class: "qkv-widget qkv-softmax" }, controls, svg, readouts, note));

  function draw() {
    const d = model.get("d_k"), n = model.get("num_keys"), scaled = model.get("scaled");
    dkInput.value = Math.max(0, choices.indexOf(d));
    dkInput.setAttribute("aria-valuetext", `d_k = ${d}`);
    dkOut.value = String(d);
    scaledInput.checked = scaled;
    keysInput.value = n;
    keysOut.value = String(n);

    const s = saturation(q, k, q.length, d, n, scaled);
    const plotW = W - left - right, plotH = H - top - bottom, slot = plotW / n;
    bars.replaceChildren(...Array.from(s.p, (p, j) => el("svg:rect", {
      x: left + j * slot + slot * 0.1, width: Math.max(slot * 0.8, 0.5),
      y: top + (1 - p) * plotH, height: Math.max(p * plotH, 0), fill: barColour(p),
    }, el("svg:title", {}, `key ${j + 1}: p = ${fmt(p)}`))));
    const yu = top + (1 - 1 / n) * plotH;
    Object.entries({ x1: left, x2: W - right, y1: yu, y2: yu }).forEach(([a, v]) => uniform.setAttribute(a, v));
    xlabel.textContent = `${n} key${n > 1 ? "s" : ""} (dashed: uniform, 1/${n})`;
    svg.setAttribute("aria-label", `Softmax over ${n} keys, d_k = ${d}, ${scaled ? "scaled" : "not scaled"}: largest probability ${fmt(s.maxProb)}`);

    // Shown with 4 significant digits; the full values ride along in data-value (the tests read them).
    const show = (out, value, text = fmt(value)) => { out.textContent = text; out.dataset.value = String(value); };
    show(maxOut, s.maxProb);
    show(entOut, s.entropy, `${fmt(s.entropy)} (uniform: ${fmt(Math.log(n))})`);
    show(jacOut, s.jacobian);
    show(sprOut, s.spread);
    note.textContent = n === 1 ? "One key gets all the weight whatever the score: nothing to learn."
      : s.maxProb > 0.99 ? "Saturated: one key takes almost all the weight and the gradient through the softmax nearly vanishes."
      : scaled ? "Scaled: the scores have about unit spread for every d_k."
      : "Unscaled: the spread of the scores grows like √d_k.";
  }

  const save = (name, value) => { model.set(name, value); model.save_changes(); };
  dkInput.addEventListener("input", () => save("d_k", choices[Number(dkInput.value)]));
  scaledInput.addEventListener("change", () => save("scaled", scaledInput.checked));
  keysInput.addEventListener("input", () => save("num_keys", Number(keysInput.value)));
  const onData = () => { load(); draw(); };
  for (const name of ["d_k", "scaled", "num_keys"]) model.on(`change:${name}`, draw);
  model.on("change:q", onData);
  model.on("change:k", onData);
  draw();
  return () => {
    for (const name of ["d_k", "scaled", "num_keys"]) model.off(`change:${name}`, draw);
    model.off("change:q", onData);
    model.off("change:k", onData);
  };
}

export default { render };
