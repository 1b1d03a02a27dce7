// LayerNorm vs BatchNorm: the block [batch, sequence, feature] drawn as one small grid per sequence
// (rows = positions, columns = features), twice. Picking an element highlights, in each copy, every
// element whose mean and variance it shares: its row under LayerNorm, its feature column through the
// whole batch under BatchNorm. Python ships the values and qkv.norms' statistics and outputs.
// A cell is picked by a click, or from the keyboard: Tab reaches the picked cell of each grid, the
// arrow keys move between cells, Enter or Space picks.


const PICK = ROLE.highlight, GROUP = "currentColor", PAD = ROLE.padding;

// The padding switch and the three sliders; show(state) puts the picked element into them.
function buildControls(model, { B, T, F, lengths }) {
  const padding = checkbox("padding");
  const inputs = { batch: slider("batch", { min: 1, max: B }), position: slider("position", { min: 1, max: T }),
    feature: slider("feature", { min: 1, max: F }) };
  const outs = { batch: el("output"), position: el("output"), feature: el("output") };
  padding.addEventListener("change", () => save(model, { padding: padding.checked }));
  for (const name of Object.keys(inputs)) {
    inputs[name].addEventListener("input", () => save(model, { [name]: Number(inputs[name].value) - 1 }));
  }
  const element = controlRow(labelled(padding, `padding (lengths ${lengths.join(", ")})`),
    labelled("sequence", inputs.batch, outs.batch), labelled("position", inputs.position, outs.position),
    labelled("feature", inputs.feature, outs.feature));
  function show({ padded, b, t, f }) {
    padding.checked = padded;
    for (const [name, v] of Object.entries({ batch: b, position: t, feature: f })) {
      inputs[name].value = v + 1;
      outs[name].value = String(v + 1);
    }
  }
  return { element, show };
}

// Both grids and their readouts, built once; draw(state) only changes attributes (and only those
// that changed). pick(b, t, f) is called when the reader picks a cell.
function buildFigure({ B, T, F, lengths }, pick) {
  const views = { layer: el("svg:svg", { role: "group", "data-drawing": "layer" }),
    batch: el("svg:svg", { role: "group", "data-drawing": "batch" }) };
  const rows = (norm) => [["count", "shares statistics with"], ["mean", "mean"], ["std", "std (√(var + ε))"],
    ["out", "output"]].map(([name, label]) => [`${norm}-${name}`, label]);
  const tables = { layer: readouts(rows("layer")), batch: readouts(rows("batch")) };
  const note = el("p", { class: "qkv-note", "aria-live": "polite", "data-readout": "note" });
  const elements = [el("div", { class: "qkv-panels qkv-wide" },
    el("div", { class: "qkv-panel" }, el("h3", {}, "LayerNorm: the features of one position"), views.layer,
      tables.layer.dl),
    el("div", { class: "qkv-panel" }, el("h3", {}, "BatchNorm: one feature over the batch and positions"), views.batch,
      tables.batch.dl)),
  note,
  el("p", { class: "qkv-legend" }, "One grid per sequence: rows are positions, columns features. Outlined: " +
    "shares the picked element's statistics; orange: the picked element; grey: padding. Click a cell, or Tab " +
    "to a grid, move with the arrow keys and press Enter.")];

  const c = 28, gap = 18, left = 8, top = 22;
  const W = left + B * (F * c + gap), H = top + T * c + 4;
  const cells = { layer: [], batch: [] };
  const index = (b, t, f) => (b * T + t) * F + f;
  for (const norm of ["layer", "batch"]) {
    const svg = views[norm];
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    svg.style.maxWidth = `${Math.round(1.6 * W)}px`;
    for (let b = 0; b < B; b++) {
      const x0 = left + b * (F * c + gap);
      svg.append(el("svg:text", { x: x0, y: 14, "font-size": 12 }, `sequence ${b + 1}`));
      for (let t = 0; t < T; t++) for (let f = 0; f < F; f++) {
        const x = x0 + f * c, y = top + t * c;
        const rect = el("svg:rect", { x: x + 1, y: y + 1, width: c - 2, height: c - 2, class: "qkv-cell",
          role: "button", tabindex: -1 }, el("svg:title"));
        const label = el("svg:text", { x: x + c / 2, y: y + c / 2 + 3.5, "text-anchor": "middle", "font-size": 9,
          "pointer-events": "none" });
        rect.addEventListener("click", () => pick(b, t, f));
        rect.addEventListener("keydown", (e) => {
          if (e.key === "Enter" || e.key === " ") {
            e.preventDefault();
            pick(b, t, f);
            return;
          }
          // Arrow keys: across the features (on into the next sequence), up and down the positions.
          const moves = { ArrowLeft: [0, 0, -1], ArrowRight: [0, 0, 1], ArrowUp: [0, -1, 0], ArrowDown: [0, 1, 0] };
          if (!(e.key in moves)) return;
          e.preventDefault();
          const [, dt, df] = moves[e.key];
          const nt = Math.min(Math.max(t + dt, 0), T - 1);
          let [nb, nf] = [b, f + df];
          if (nf < 0 && nb > 0) [nb, nf] = [nb - 1, F - 1];
          if (nf >= F && nb < B - 1) [nb, nf] = [nb + 1, 0];
          nf = Math.min(Math.max(nf, 0), F - 1);
          const next = cells[norm][index(nb, nt, nf)].rect;
          cells[norm].forEach((cell) => set(cell.rect, "tabindex", cell.rect === next ? 0 : -1));
          next.focus();
        });
        svg.append(rect, label);
        cells[norm].push({ b, t, f, rect, label });
      }
    }
  }

  function paintGrid(norm, block, padded, b0, t0, f0) {
    const focused = cells[norm].some(({ rect }) => rect === document.activeElement);
    for (const { b, t, f, rect, label } of cells[norm]) {
      const pad = padded && t >= lengths[b], v = block.x[b][t][f];
      const inGroup = norm === "layer" ? b === b0 && t === t0 : f === f0;
      const picked = b === b0 && t === t0 && f === f0;
      set(rect, "fill", pad ? PAD : diverging.css(v / 2.5));
      set(rect, "opacity", inGroup ? 1 : 0.3);
      set(rect, "stroke", picked ? PICK : inGroup ? GROUP : "none");
      set(rect, "stroke-width", picked ? 3 : 1.5);
      set(rect, "data-group", inGroup ? "1" : "0");
      set(rect, "data-pad", pad ? "1" : "0");
      set(rect, "aria-pressed", picked);
      if (!focused) set(rect, "tabindex", picked ? 0 : -1); // Tab reaches the picked cell
      set(label, "opacity", inGroup ? 1 : 0.6);
      // Dark ink on a highlighted cell (every cell colour is light); the theme's text colour on a dimmed
      // one, which shows the page through it (dark in dark mode).
      set(label, "style", inGroup ? "fill:#111" : "fill:currentColor");
      // One decimal without the leading zero ("-.6"), so that the label fits its cell at a readable size.
      const text = pad ? "pad" : v.toFixed(1).replace(/^-?0\.0$/, "0").replace(/^(-?)0\./, "$1.");
      if (label.textContent !== text) {
        label.textContent = text;
        const name = `sequence ${b + 1}, position ${t + 1}, feature ${f + 1}: ${pad ? "padding, " : ""}${v.toFixed(2)}`;
        rect.firstChild.textContent = name;
        set(rect, "aria-label", name);
      }
    }
  }

  function draw({ padded, block, b, t, f }) {
    paintGrid("layer", block, padded, b, t, f);
    paintGrid("batch", block, padded, b, t, f);
    const isPad = padded && t >= lengths[b];
    const pads = padded ? lengths.reduce((a, n) => a + (T - n), 0) : 0;
    views.layer.setAttribute("aria-label", `LayerNorm: the picked element shares statistics with the ${F} features ` +
      `of sequence ${b + 1}, position ${t + 1}`);
    views.batch.setAttribute("aria-label", `BatchNorm: the picked element shares statistics with feature ${f + 1} ` +
      `at all ${B * T} positions of the batch${pads ? `, ${pads} of them padding` : ""}`);
    const x = block.x[b][t][f].toFixed(2);
    tables.layer.show("layer-count", `${F} elements`);
    tables.layer.show("layer-mean", fixed(block.ln_mean[b][t]));
    tables.layer.show("layer-std", fixed(block.ln_std[b][t]));
    tables.layer.show("layer-out", fixed(block.ln_out[b][t][f]), { label: `output for ${x}` });
    tables.batch.show("batch-count", `${B * T} elements${pads ? `, ${pads} padding` : ""}`);
    tables.batch.show("batch-mean", fixed(block.bn_mean[f]));
    tables.batch.show("batch-std", fixed(block.bn_std[f]));
    tables.batch.show("batch-out", fixed(block.bn_out[b][t][f]), { label: `output for ${x}` });
    setText(note, !padded || pads === 0
      ? "No padding: every element is a real token."
      : isPad
        ? "The picked element is padding: LayerNorm normalises it on its own (zeros stay zero), but under BatchNorm " +
          "it enters the statistics of this feature for every real token."
        : `BatchNorm counts the ${pads} padding zeros: its mean for feature ${f + 1} is ${fixed(block.bn_mean[f])}, ` +
          `against ${fixed(block.bn_mean_real[f])} over the real tokens only, so this element's output is ` +
          `${fixed(block.bn_out[b][t][f])} instead of ${fixed(block.bn_out_real[b][t][f])}. LayerNorm's statistics ` +
          "never mix positions: padding does not change them.");
  }
  return { elements, draw };
}

function render({ model, el: root }) {
  const lengths = model.get("lengths"), full = model.get("blocks").full;
  const shape = { B: lengths.length, T: full.x[0].length, F: full.bn_mean.length, lengths };
  const controls = buildControls(model, shape);
  const figure = buildFigure(shape, (b, t, f) => save(model, { batch: b, position: t, feature: f }));
  const widget = widgetRoot("qkv-norms", controls.element, ...figure.elements);
  root.append(widget);
  const text = keepTextReadable(widget);

  function update() {
    const padded = model.get("padding");
    const state = { padded, block: model.get("blocks")[padded ? "padded" : "full"],
      b: Math.min(model.get("batch"), shape.B - 1), t: Math.min(model.get("position"), shape.T - 1),
      f: Math.min(model.get("feature"), shape.F - 1) };
    controls.show(state);
    figure.draw(state);
  }
  update();
  const stop = listen(model, { padding: update, batch: update, position: update, feature: update, blocks: update });
  return () => { stop(); text.stop(); };
}

export default { render };
