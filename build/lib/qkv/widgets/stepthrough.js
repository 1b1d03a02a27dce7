// Attention step by step: Python ships every matrix (X, the projections, Q, K, V, the scores, the scaled
// scores, the weights and the output) as 16-bit integers; this file only reveals them, one step at a
// time. Nothing is computed here, so what the reader sees is exactly what qkv computed.

// Which matrices each step fills in, and what the step says.
const STEP_MATRICES = [
  ["X", "W_Q", "W_K", "W_V"],
  ["Q", "K", "V"],
  ["scores"],
  ["scaled"],
  ["weights"],
  ["output"],
];
const EXPLAIN = [
  "The inputs: one row of X per token, and the three projection matrices (learned in a real model).",
  "Project: Q = X W_Q, K = X W_K, V = X W_V. Row i of each is token i's query, key and value.",
  "Score: Q Kᵀ compares every query with every key by a dot product; row i, column j is query i · key j.",
  "Scale: divide every score by √d_k, so that the scores keep about unit spread whatever d_k is.",
  "Softmax: along each row, the scores become weights that are positive and sum to 1.",
  "Mix: each token's output is the weighted average of the values, output = weights · V.",
];
const TITLES = {
  X: ["X", "[n, d_model]"],
  W_Q: ["W_Q", "[d_model, d_k]"], W_K: ["W_K", "[d_model, d_k]"], W_V: ["W_V", "[d_model, d_v]"],
  Q: ["Q = X W_Q", "[n, d_k]"], K: ["K = X W_K", "[n, d_k]"], V: ["V = X W_V", "[n, d_v]"],
  scores: ["Q Kᵀ", "[n, n]"], scaled: ["Q Kᵀ / √d_k", "[n, n]"], weights: ["softmax, row by row", "[n, n]"],
  output: ["output = weights · V", "[n, d_v]"],
};
const MATRIX_ROLE = {
  Q: "query", W_Q: "query", K: "key", W_K: "key", V: "value", W_V: "value", output: "output",
  weights: "highlight",
};

export const fmt2 = (x) => (Number.isFinite(x) ? x.toFixed(2).replace("-", "−") : "—");

function render({ model, el: root }) {
  const names = model.get("step_names");
  const tokens = model.get("tokens");
  const n = model.get("n");
  const dims = { n, d_model: model.get("d_model"), d_k: model.get("d_k"), d_v: model.get("d_v") };
  const shape = (s) => s.replace(/n|d_model|d_k|d_v/g, (m) => String(dims[m]));
  const size = {
    X: [n, dims.d_model], W_Q: [dims.d_model, dims.d_k], W_K: [dims.d_model, dims.d_k], W_V: [dims.d_model, dims.d_v],
    Q: [n, dims.d_k], K: [n, dims.d_k], V: [n, dims.d_v],
    scores: [n, n], scaled: [n, n], weights: [n, n], output: [n, dims.d_v],
  };
  const palette = model.get("colours");

  const prev = el("button", { type: "button", "data-control": "previous" }, "◀ previous");
  const next = el("button", { type: "button", "data-control": "next" }, "next ▶");
  const stepSlider = el("input", {
    type: "range", min: 0, max: names.length - 1, step: 1, "data-control": "step", "aria-label": "step",
  });
  const stepOut = el("output", { "data-readout": "step" });
  const controls = el("div", { class: "qkv-controls" }, prev, next, el("label", {}, "step", stepSlider, stepOut));
  const note = el("p", { class: "qkv-note", "aria-live": "polite", "data-readout": "explanation" });

  // One table per matrix; its cells are filled once and shown or blanked by the step.
  const panels = {}, cells = {};
  const grid = el("div", { class: "qkv-steps-grid", "data-drawing": "matrices" });
  STEP_MATRICES.forEach((group, s) => {
    for (const name of group) {
      const [rows, cols] = size[name];
      const rowLabels = ["X", "Q", "K", "V", "scores", "scaled", "weights", "output"].includes(name) ? tokens : null;
      const colLabels = ["scores", "scaled", "weights"].includes(name) ? tokens : null;
      const table = el("table", { class: "qkv-table" });
      if (colLabels) table.append(el("tr", {}, el("td", {}), ...colLabels.map((t) => el("th", { scope: "col" }, t))));
      cells[name] = [];
      for (let r = 0; r < rows; r++) {
        const tds = Array.from({ length: cols }, () => el("td", {}));
        cells[name].push(...tds);
        table.append(el("tr", {}, ...(rowLabels ? [el("th", { scope: "row" }, rowLabels[r])] : []), ...tds));
      }
      const colour = palette[MATRIX_ROLE[name]] || "#999999";
      const attrs = { class: "qkv-panel qkv-step-panel", "data-matrix": name, "data-step": s };
      const panel = el("div", { ...attrs, style: `border-top: 4px solid ${colour}` },
        el("h3", {}, TITLES[name][0], " ", el("span", { class: "qkv-shape" }, shape(TITLES[name][1]))), table);
      panels[name] = panel;
      grid.append(panel);
    }
  });
  root.append(el("div", { class: "qkv-widget qkv-stepthrough" }, controls, note, grid));

  let values = {};
  const load = () => {
    const data = model.get("data"), scales = model.get("scales");
    values = Object.fromEntries(Object.keys(size).map((k) => [k, decodeInt16(data[k], scales[k], Float64Array)]));
  };

  function draw() {
    const step = model.get("step");
    stepSlider.value = step;
    stepSlider.setAttribute("aria-valuetext", `step ${step}: ${names[step]}`);
    stepOut.textContent = `${step} of ${names.length - 1}: ${names[step]}`;
    stepOut.dataset.value = String(step);
    prev.disabled = step === 0;
    next.disabled = step === names.length - 1;
    note.textContent = EXPLAIN[step] || "";
    for (const [name, panel] of Object.entries(panels)) {
      const s = Number(panel.dataset.step), shown = s <= step;
      set(panel, "data-state", s === step ? "current" : shown ? "done" : "pending");
      cells[name].forEach((td, i) => {
        const v = values[name][i];
        td.textContent = shown ? fmt2(v) : "·";
        if (shown) td.dataset.value = String(v); else delete td.dataset.value;
        td.style.background = shown && name === "weights" ? `rgba(213, 94, 0, ${(0.45 * v).toFixed(3)})` : "";
      });
    }
  }

  const go = (s) => { model.set("step", Math.max(0, Math.min(names.length - 1, s))); model.save_changes(); };
  prev.addEventListener("click", () => go(model.get("step") - 1));
  next.addEventListener("click", () => go(model.get("step") + 1));
  stepSlider.addEventListener("input", () => go(Number(stepSlider.value)));
  const onData = () => { load(); draw(); };
  model.on("change:step", draw);
  model.on("change:data", onData);
  load();
  draw();
  return () => { model.off("change:step", draw); model.off("change:data", onData); };
}

export default { render };
