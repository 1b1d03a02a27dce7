// LayerNorm vs BatchNorm: the block [batch, sequence, feature] drawn as one small grid per sequence
// (rows = positions, columns = features), twice. Picking an element highlights, in each copy, every
// element whose mean and variance it shares: its row under LayerNorm, its feature column through the
// whole batch under BatchNorm. Python ships the values and qkv.norms' statistics and outputs.

const PICK = "#e66101", GROUP = "currentColor";

// 201 colours from -1 to 1, computed once: painting a cell is one lookup.
const LUT = sample(DIVERGING, 201).map(toCss);
const diverging = (t) => LUT[Math.round((Math.min(Math.max(t, -1), 1) + 1) * 100)];

const fmt = (x) => (Number.isFinite(x) ? x.toFixed(3) : "—");

function render({ model, el: root }) {
  const lengths = model.get("lengths"), B = lengths.length;
  const T = model.get("blocks").full.x[0].length, F = model.get("blocks").full.bn_mean.length;

  const paddingInput = el("input", { type: "checkbox", "data-control": "padding" });
  const slider = (name, max) => el("input", { type: "range", min: 1, max, step: 1, "data-control": name });
  const inputs = { batch: slider("batch", B), position: slider("position", T), feature: slider("feature", F) };
  const outs = { batch: el("output"), position: el("output"), feature: el("output") };
  const controls = el("div", { class: "qkv-controls" },
    el("label", {}, paddingInput, `padding (lengths ${lengths.join(", ")})`),
    el("label", {}, "sequence", inputs.batch, outs.batch),
    el("label", {}, "position", inputs.position, outs.position),
    el("label", {}, "feature", inputs.feature, outs.feature));
  const views = { layer: el("svg:svg", { role: "img", "data-drawing": "layer" }), batch: el("svg:svg", { role: "img", "data-drawing": "batch" }) };
  const readouts = { layer: el("dl", { class: "qkv-readouts" }), batch: el("dl", { class: "qkv-readouts" }) };
  const note = el("p", { class: "qkv-note", "aria-live": "polite", "data-readout": "note" });
  root.append(el("div", { class: "qkv-widget qkv-norms" }, controls,
    el("div", { class: "qkv-panels qkv-wide" },
      el("div", { class: "qkv-panel" }, el("h4", {}, "LayerNorm: the features of one position"), views.layer, readouts.layer),
      el("div", { class: "qkv-panel" }, el("h4", {}, "BatchNorm: one feature over the batch and positions"), views.batch, readouts.batch)),
    note,
    el("p", { class: "qkv-legend" }, "One grid per sequence: rows are positions, columns features. Outlined: shares the picked element's statistics; orange: the picked element; grey: padding.")));

  const c = 28, gap = 18, left = 8, top = 22;
  const W = left + B * (F * c + gap), H = top + T * c + 4;
  const pick = (b, t, f) => { model.set({ batch: b, position: t, feature: f }); model.save_changes(); };

  // Both grids are built once; a redraw only changes attributes (and only those that changed).
  const cells = { layer: [], batch: [] };
  for (const norm of ["layer", "batch"]) {
    const svg = views[norm];
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.style.maxWidth = `${Math.round(1.6 * W)}px`;
    for (let b = 0; b < B; b++) {
      const x0 = left + b * (F * c + gap);
      svg.append(el("svg:text", { x: x0, y: 14, "font-size": 12 }, `sequence ${b + 1}`));
      for (let t = 0; t < T; t++) for (let f = 0; f < F; f++) {
        const x = x0 + f * c, y = top + t * c;
        const rect = el("svg:rect", { x: x + 1, y: y + 1, width: c - 2, height: c - 2, class: "qkv-cell" }, el("svg:title"));
        const label = el("svg:text", { x: x + c / 2, y: y + c / 2 + 3.5, "text-anchor": "middle", "font-size": 9, "pointer-events": "none", style: "fill:#111" });
        rect.addEventListener("click", () => pick(b, t, f));
        svg.append(rect, label);
        cells[norm].push({ b, t, f, rect, label });
      }
    }
  }

  function paintGrid(norm, block, padded, b0, t0, f0) {
    for (const { b, t, f, rect, label } of cells[norm]) {
      const pad = padded && t >= lengths[b], v = block.x[b][t][f];
      const inGroup = norm === "layer" ? b === b0 && t === t0 : f === f0;
      const picked = b === b0 && t === t0 && f === f0;
      set(rect, "fill", pad ? "#c8c8c8" : diverging(v / 2.5));
      set(rect, "opacity", inGroup ? 1 : 0.3);
      set(rect, "stroke", picked ? PICK : inGroup ? GROUP : "none");
      set(rect, "stroke-width", picked ? 3 : 1.5);
      set(rect, "data-group", inGroup ? "1" : "0");
      set(rect, "data-pad", pad ? "1" : "0");
      set(label, "opacity", inGroup ? 1 : 0.45);
      const text = pad ? "pad" : v.toFixed(1);
      if (label.textContent !== text) {
        label.textContent = text;
        rect.firstChild.textContent = `sequence ${b + 1}, position ${t + 1}, feature ${f + 1}: ${pad ? "padding, " : ""}${v.toFixed(2)}`;
      }
    }
  }

  const outputs = {};
  function readout(norm, entries) {
    if (!outputs[norm]) {
      outputs[norm] = {};
      readouts[norm].replaceChildren(...entries.map(([name, label]) => {
        outputs[norm][name] = { dt: el("dt", {}, label), dd: el("dd", { "data-readout": `${norm}-${name}` }) };
        return el("div", {}, outputs[norm][name].dt, outputs[norm][name].dd);
      }));
    }
    for (const [name, label, text] of entries) {
      const { dt, dd } = outputs[norm][name];
      if (dt.textContent !== label) dt.textContent = label;
      if (dd.textContent !== text) dd.textContent = text;
    }
  }

  function draw() {
    const padded = model.get("padding"), block = model.get("blocks")[padded ? "padded" : "full"];
    const b = Math.min(model.get("batch"), B - 1), t = Math.min(model.get("position"), T - 1), f = Math.min(model.get("feature"), F - 1);
    paddingInput.checked = padded;
    for (const [name, v] of Object.entries({ batch: b, position: t, feature: f })) {
      inputs[name].value = v + 1;
      outs[name].value = String(v + 1);
    }
    paintGrid("layer", block, padded, b, t, f);
    paintGrid("batch", block, padded, b, t, f);
    const isPad = padded && t >= lengths[b];
    const pads = padded ? lengths.reduce((a, n) => a + (T - n), 0) : 0;
    views.layer.setAttribute("aria-label", `LayerNorm: the picked element shares statistics with the ${F} features of sequence ${b + 1}, position ${t + 1}`);
    views.batch.setAttribute("aria-label", `BatchNorm: the picked element shares statistics with feature ${f + 1} at all ${B * T} positions of the batch${pads ? `, ${pads} of them padding` : ""}`);
    readout("layer", [
      ["count", "shares statistics with", `${F} elements`],
      ["mean", "mean", fmt(block.ln_mean[b][t])],
      ["std", "std (√(var + ε))", fmt(block.ln_std[b][t])],
      ["out", `output for ${block.x[b][t][f].toFixed(2)}`, fmt(block.ln_out[b][t][f])]]);
    readout("batch", [
      ["count", "shares statistics with", `${B * T} elements${pads ? `, ${pads} padding` : ""}`],
      ["mean", "mean", fmt(block.bn_mean[f])],
      ["std", "std (√(var + ε))", fmt(block.bn_std[f])],
      ["out", `output for ${block.x[b][t][f].toFixed(2)}`, fmt(block.bn_out[b][t][f])]]);
    note.textContent = !padded || pads === 0
      ? "No padding: every element is a real token."
      : isPad
        ? "The picked element is padding: LayerNorm normalises it on its own (zeros stay zero), but under BatchNorm it enters the statistics of this feature for every real token."
        : `BatchNorm counts the ${pads} padding zeros: its mean for feature ${f + 1} is ${fmt(block.bn_mean[f])}, against ${fmt(block.bn_mean_real[f])} over the real tokens only, so this element's output is ${fmt(block.bn_out[b][t][f])} instead of ${fmt(block.bn_out_real[b][t][f])}. LayerNorm's statistics never mix positions: padding does not change them.`;
  }

  paddingInput.addEventListener("change", () => { model.set("padding", paddingInput.checked); model.save_changes(); });
  for (const name of ["batch", "position", "feature"]) {
    inputs[name].addEventListener("input", () => { model.set(name, Number(inputs[name].value) - 1); model.save_changes(); });
  }
  const names = ["padding", "batch", "position", "feature", "blocks"];
  for (const name of names) model.on(`change:${name}`, draw);
  draw();
  return () => { for (const name of names) model.off(`change:${name}`, draw); };
}

export default { render };
