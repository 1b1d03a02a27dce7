// Mask playground. Python ships the masks (from qkv.masks) and, for every row the reader can produce,
// the weights PyTorch computes for each fill value, dtype and logit size; this file picks the rows for
// the current setting, draws the mask and the weights, and says where the setting breaks.


const WARN = ROLE.highlight; // orange: weight on a masked key
const ALLOWED = PALETTE.sequential[2]; // a filled mask cell: a dark blue of the viridis scale
const LEAK = 0.005; // weight on masked keys above this counts as leaking

// "-1e+09" -> "−1e9", "-inf" -> "−∞": numbers as the text writes them.
const pretty = (s) => s.replace("-inf", "−∞").replace(/e\+?(-?)0*(\d)/, "e$1$2").replace(/-/g, "−");

// The length sliders, the two switches and the three pickers; show(state) puts the setting into them.
function buildControls(model) {
  const L = model.get("max_len"), B = model.get("lengths").length;
  const lengths = Array.from({ length: B }, (_, b) => slider(`length-${b}`, { min: 0, max: L }));
  const lengthOuts = lengths.map(() => el("output"));
  const causal = checkbox("causal"), queries = checkbox("mask_queries");
  const fill = select("fill", model.get("fills").map((v) => [v, pretty(v)]));
  const dtype = select("dtype", model.get("dtypes").map((v) => [v, v]));
  const scale = select("logit_scale", model.get("scales").map((v) => [v, `× ${v.toLocaleString("en")}`]));
  lengths.forEach((input, b) => input.addEventListener("input", () => {
    const values = [...model.get("lengths")];
    values[b] = Number(input.value);
    save(model, { lengths: values });
  }));
  causal.addEventListener("change", () => save(model, { causal: causal.checked }));
  queries.addEventListener("change", () => save(model, { mask_queries: queries.checked }));
  fill.addEventListener("change", () => save(model, { fill: fill.value }));
  dtype.addEventListener("change", () => save(model, { dtype: dtype.value }));
  scale.addEventListener("change", () => save(model, { logit_scale: Number(scale.value) }));
  const elements = [
    controlRow(...lengths.map((input, b) => labelled(`length of sequence ${b + 1}`, input, lengthOuts[b])),
      labelled(causal, "causal"), labelled(queries, "mask padded queries too")),
    controlRow(labelled("fill value", fill), labelled("dtype", dtype), labelled("score size", scale))];
  function show(s) {
    s.lengths.forEach((n, b) => { lengths[b].value = n; lengthOuts[b].value = String(n); });
    causal.checked = s.causal;
    queries.checked = s.maskQueries;
    fill.value = s.fill;
    dtype.value = s.dtype;
    scale.value = String(s.scale);
  }
  return { elements, show };
}

// The mask and weights of each sequence, the verdict and the summary table of every fill value and
// dtype (a click picks one: pick(fill, dtype)). draw(state) paints the setting `state` describes.
function buildFigure({ L, B, fills, dtypes }, pick) {
  const panels = el("div", { class: "qkv-panels qkv-wide" });
  const verdict = el("p", { class: "qkv-note", "aria-live": "polite", "data-readout": "verdict" });
  const summary = el("table", { class: "qkv-table", "data-readout": "summary" });
  const legend = el("p", { class: "qkv-legend" }, "Left: the mask (filled = may attend). Right: the weights; " +
    "dimmed = masked key, orange border = weight on a masked key, ✕ = not a number (0/0).");
  const elements = [panels, verdict, legend,
    el("p", { class: "qkv-legend" }, "Every fill value and dtype for this batch (click to choose):"), summary];

  // The summary table, built once.
  const summaryCells = fills.map(() => []);
  summary.append(el("tr", {}, el("th", {}, "fill \\ dtype"), ...dtypes.map((name) => el("th", {}, name))),
    ...fills.map((fill, fi) => el("tr", {}, el("th", {}, pretty(fill)), ...dtypes.map((name, di) => {
      const button = el("button", { type: "button", "data-fill": fill, "data-dtype": name });
      button.addEventListener("click", () => pick(fill, name));
      const td = el("td", {}, button);
      summaryCells[fi][di] = { td, button };
      return td;
    }))));

  // One panel per sequence, built once; paintSequence only changes what differs.
  const c = 32, gap = 40, top = 34, left = 30, x2 = left + L * c + gap;
  const sequences = Array.from({ length: B }, (_, b) => {
    const svg = el("svg:svg", { viewBox: `0 0 ${x2 + L * c + 24} ${top + L * c + 8}`, role: "img",
      "aria-label": `sequence ${b + 1}: its mask and its attention weights`,
      "data-drawing": `sequence-${b}` });
    const title = el("h3");
    svg.append(el("svg:text", { x: left, y: 14, "font-size": 12 }, "mask"),
      el("svg:text", { x: x2, y: 14, "font-size": 12 }, "weights"));
    const columnLabels = [], rowLabels = [], maskCells = [], cells = [], labels = [], marks = [];
    for (let j = 0; j < L; j++) for (const x0 of [left, x2]) {
      columnLabels.push(el("svg:text", { x: x0 + j * c + c / 2, y: top - 5, "text-anchor": "middle",
        "font-size": 11 }));
    }
    for (let i = 0; i < L; i++) {
      const y = top + i * c;
      rowLabels.push(el("svg:text", { x: left - 4, y: y + c / 2 + 4, "text-anchor": "end", "font-size": 11 }));
      marks.push(el("svg:text", { x: x2 + L * c + 4, y: y + c / 2 + 4, "font-size": 13, style: `fill:${WARN}` }));
      for (let j = 0; j < L; j++) {
        maskCells.push(el("svg:rect", { x: left + j * c, y, width: c - 2, height: c - 2,
          stroke: withAlpha(ROLE.neutral, 0.6) }));
        cells.push(el("svg:rect", { x: x2 + j * c, y, width: c - 2, height: c - 2, "stroke-width": 3, "data-i": i,
          "data-j": j }));
        labels.push(el("svg:text", { x: x2 + j * c + c / 2 - 1, y: y + c / 2 + 3, "text-anchor": "middle",
          "font-size": 11 }));
      }
    }
    svg.append(...columnLabels, ...rowLabels, ...maskCells, ...cells, ...labels, ...marks);
    panels.append(el("div", { class: "qkv-panel" }, title, svg));
    return { svg, title, columnLabels, rowLabels, maskCells, cells, labels, marks };
  });

  function paintSequence(b, n, mask, rows) {
    const s = sequences[b];
    setText(s.title, `sequence ${b + 1}: ${n} token${n === 1 ? "" : "s"}, ${L - n} padding`);
    s.columnLabels.forEach((t, k) => setText(t, Math.floor(k / 2) < n ? `k${Math.floor(k / 2)}` : "pad"));
    let nanRows = 0, badRows = 0;
    rows.forEach(({ w, status }, i) => {
      setText(s.rowLabels[i], i < n ? `q${i}` : "pad");
      for (let j = 0; j < L; j++) {
        const k = i * L + j, allowed = mask[i][j] === 1, v = w[j], leak = !allowed && v > LEAK, nan = Number.isNaN(v);
        set(s.maskCells[k], "fill", allowed ? ALLOWED : "none");
        set(s.maskCells[k], "data-allowed", allowed ? 1 : 0);
        set(s.cells[k], "fill", nan ? ROLE.padding : viridis(v));
        set(s.cells[k], "opacity", allowed || leak || nan ? 1 : 0.35);
        set(s.cells[k], "stroke", leak ? WARN : "none");
        set(s.cells[k], "data-weight", nan ? "x" : v);
        setText(s.labels[k], nan ? "✕" : v.toFixed(2).replace(/^0/, ""));
        set(s.labels[k], "style", `fill:${nan || v > 0.6 ? "#000" : "#fff"}`); // black or white on the cell
      }
      setText(s.marks[i], status === "ok" ? "" : status === "nan" ? "✕" : "!");
      if (status !== "ok") badRows++;
      if (status === "nan") nanRows++;
    });
    set(s.svg, "aria-label",
      `Sequence ${b + 1}, length ${n}: ${badRows} of ${L} rows break${nanRows ? `, ${nanRows} not a number` : ""}`);
  }

  function draw({ lengths, masks, current, verdict: text, summary: results }) {
    lengths.forEach((n, b) => paintSequence(b, n, masks[b], current.rows[b]));
    verdict.textContent = text;
    results.forEach((row, fi) => row.forEach(({ r, here }, di) => {
      const { td, button } = summaryCells[fi][di];
      setText(button, r.nan ? `✕ ${r.nan} not a number` : r.leak ? `! leaks ${r.worstLeak.toFixed(2)}`
        : r.spread ? `! ${r.spread} spread` : "✓ ok");
      set(button, "aria-pressed", here);
      td.classList.toggle("qkv-current", here);
    }));
  }
  return { elements, draw };
}

function render({ model, el: root }) {
  let table = decodeInt16(model.get("rows"), model.get("scale"));
  const L = model.get("max_len"), fills = model.get("fills"), dtypes = model.get("dtypes");
  const scales = model.get("scales");
  const B = model.get("lengths").length;
  const controls = buildControls(model);
  const figure = buildFigure({ L, B, fills, dtypes }, (fill, dtype) => save(model, { fill, dtype }));
  const widget = widgetRoot("qkv-masks", ...controls.elements, ...figure.elements);
  root.append(widget);
  const text = keepTextReadable(widget);

  const maskOf = (n) => model.get("masks")[n][model.get("causal") ? 1 : 0][model.get("mask_queries") ? 1 : 0];
  const rowOf = (b, i, m, f, d, s) => {
    const start = ((((((b * L + i) * (L + 1) + m) * fills.length + f) * dtypes.length + d) * scales.length + s) * L);
    return table.subarray(start, start + L);
  };

  // How each row fares: "nan" (0/0), "spread" (no key allowed, weight spread over masked keys),
  // "leak" (weight on masked keys although some key is allowed) or "ok".
  function assess(f, d, s) {
    const result = { nan: 0, nanMasked: 0, spread: 0, leak: 0, worstLeak: 0, rows: [] };
    model.get("lengths").forEach((n, b) => {
      result.rows.push(maskOf(n).map((allowed, i) => {
        const m = allowed.reduce((a, x) => a + x, 0), w = rowOf(b, i, m, f, d, s);
        if (w.some(Number.isNaN)) {
          result.nan++;
          if (m === 0) result.nanMasked++;
          return { m, w, status: "nan" };
        }
        const masked = w.reduce((a, x, j) => a + (allowed[j] ? 0 : x), 0);
        if (m === 0) { result.spread++; return { m, w, status: "spread" }; }
        if (masked > LEAK) {
          result.leak++;
          result.worstLeak = Math.max(result.worstLeak, masked);
          return { m, w, status: "leak", masked };
        }
        return { m, w, status: "ok" };
      }));
    });
    return result;
  }

  function describe(f, d, r) {
    const stored = model.get("stored_fill")[f][d], fill = fills[f];
    const parts = [];
    if (fill !== "-inf" && stored === "-inf") parts.push(`${pretty(fill)} overflows ${dtypes[d]} and is stored as −∞`);
    else if (fill !== "-inf" && Number(stored) !== Number(fill)) {
      parts.push(`${pretty(fill)} is stored as ${pretty(stored)} in ${dtypes[d]}`);
    }
    const plural = (k, one, many) => `${k} row${k > 1 ? many : one}`;
    if (r.nanMasked) {
      parts.push(`${plural(r.nanMasked, " is", "s are")} not a number: every key is masked, so the softmax is 0/0`);
    }
    if (r.nan > r.nanMasked) {
      parts.push(`${plural(r.nan - r.nanMasked, " is", "s are")} not a number: a score overflowed ${dtypes[d]} ` +
        "(beyond ±65504 is ±∞)");
    }
    if (r.spread) {
      parts.push(`${r.spread} fully masked row${r.spread > 1 ? "s spread their" : " spreads its"} weight over ` +
        "masked keys");
    }
    if (r.leak) {
      parts.push(`${r.leak} row${r.leak > 1 ? "s leak" : " leaks"} weight onto masked keys ` +
        `(up to ${r.worstLeak.toFixed(2)} of a row)`);
    }
    if (!r.nan && !r.spread && !r.leak) parts.push("every row keeps its weight on the keys the mask allows");
    const error = model.get("masked_fill_error")[f][d];
    if (error) parts.push(`(scores.masked_fill(~mask, ${fill}) would raise: “${error}”)`);
    return parts.join("; ") + ".";
  }

  function update() {
    const lengths = model.get("lengths");
    const f = fills.indexOf(model.get("fill")), d = dtypes.indexOf(model.get("dtype"));
    const s = scales.indexOf(model.get("logit_scale"));
    const current = assess(f, d, s);
    const state = { lengths, causal: model.get("causal"), maskQueries: model.get("mask_queries"),
      fill: model.get("fill"), dtype: model.get("dtype"), scale: model.get("logit_scale"),
      masks: lengths.map(maskOf), current, verdict: describe(f, d, current),
      summary: fills.map((_, fi) => dtypes.map((__, di) => {
        const here = fi === f && di === d;
        return { here, r: here ? current : assess(fi, di, s) };
      })) };
    controls.show(state);
    figure.draw(state);
  }
  const onData = () => { table = decodeInt16(model.get("rows"), model.get("scale")); update(); };
  update();
  const stop = listen(model, { lengths: update, causal: update, mask_queries: update, fill: update, dtype: update,
    logit_scale: update, rows: onData });
  return () => { stop(); text.stop(); };
}

export default { render };
