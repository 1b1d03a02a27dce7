// Positional-encoding explorer. Python ships each method's table(s) [positions, d_model] (ALiBi: the
// bias [heads, distance]); this file draws the table (a heatmap image), one position's vector and the
// cosine similarity between that position and the others against their offset (SVG).


// The method picker and the d_model and position sliders; show(state) puts the setting into them.
function buildControls(model, sizes) {
  const method = select("method"), dModel = slider("d_model", { min: 0 }), dOut = el("output");
  const position = slider("position", { min: 0 }), posOut = el("output");
  method.addEventListener("change", () => {
    const m = model.get("methods").find((x) => x.name === method.value), choices = sizes(m);
    const keep = choices.includes(model.get("d_model")) || m.name === "alibi";
    const d = keep ? model.get("d_model") : choices[choices.length - 1];
    save(model, { method: m.name, d_model: d });
  });
  dModel.addEventListener("input", () => {
    const m = model.get("methods").find((x) => x.name === model.get("method")) || model.get("methods")[0];
    save(model, { d_model: sizes(m)[Number(dModel.value)] });
  });
  position.addEventListener("input", () => save(model, { position: Number(position.value) }));
  const element = controlRow(labelled("method", method),
    labelled(el("span", {}, "d", el("sub", {}, "model")), dModel, dOut), labelled("position", position, posOut));
  const options = (methods) => method.replaceChildren(...methods.map((m) => el("option", { value: m.name }, m.title)));
  function show({ m, b, p, L }) {
    const alibi = m.name === "alibi", choices = sizes(m);
    method.value = m.name;
    dModel.max = Math.max(choices.length - 1, 0);
    dModel.disabled = alibi || choices.length < 2;
    dModel.value = Math.max(choices.indexOf(b.d_model), 0);
    dOut.value = alibi ? "—" : String(b.d_model);
    dModel.setAttribute("aria-valuetext", alibi ? "not used by ALiBi" : `d_model = ${b.d_model}`);
    position.max = L - 1;
    position.value = p;
    posOut.value = String(p);
  }
  return { element, options, show };
}

// The table (a heatmap), the vector (or ALiBi's slopes) and the similarity (or ALiBi's bias) panels,
// with their readouts. draw(state) redraws them for the setting `state` describes.
function buildFigure() {
  const table = el("svg:svg", {
    viewBox: "0 0 640 300", role: "img", "aria-label": "the positional table", "data-drawing": "table",
  });
  const vector = el("svg:svg", {
    viewBox: "0 0 320 190", role: "img", "aria-label": "the vector of one position", "data-drawing": "vector",
  });
  const similarity = el("svg:svg", {
    viewBox: "0 0 320 190", role: "img", "aria-label": "similarity of one position with every other",
    "data-drawing": "similarity",
  });
  const titles = { table: el("h3"), vector: el("h3"), similarity: el("h3") };
  const values = readouts([["norm", "length"], ["next", "next"], ["far", "far"], ["slope", "slope"]]);
  const range = el("p", { class: "qkv-legend", "data-readout": "range" });
  const note = el("p", { class: "qkv-note", "aria-live": "polite" });
  const elements = [el("div", { class: "qkv-panel" }, titles.table, table, range),
    el("div", { class: "qkv-panels" },
      el("div", { class: "qkv-panel" }, titles.vector, vector),
      el("div", { class: "qkv-panel" }, titles.similarity, similarity)),
    values.dl, note];

  // The table as a heatmap: rows x columns of values / range (one pixel per cell, scaled up without
  // smoothing), with a marker on the chosen row (or column). The images are cached by `key` (a table
  // does not change with the position; ALiBi's does). Rows are labelled from `first` (heads from 1).
  const cellCanvas = document.createElement("canvas"), images = new Map();
  function drawTable({ key, rows, columns, at, scale, rowLabel, columnLabel, markRow, mark, first = 0 }) {
    const W = 640, H = 300, left = 46, top = 6, right = 8, bottom = 40, pw = W - left - right, ph = H - top - bottom;
    if (!images.has(key)) {
      const cells = new ImageData(columns, rows);
      for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) {
        const [R, G, B] = diverging.rgb(at(r, c) / scale), n = 4 * (r * columns + c);
        cells.data[n] = R; cells.data[n + 1] = G; cells.data[n + 2] = B; cells.data[n + 3] = 255;
      }
      cellCanvas.width = columns; cellCanvas.height = rows;
      cellCanvas.getContext("2d").putImageData(cells, 0, 0);
      if (images.size > 64) images.clear();
      images.set(key, cellCanvas.toDataURL());
    }
    const marker = markRow
      ? { x: left - 2, y: top + (mark * ph) / rows - 1.5, width: pw + 4, height: ph / rows + 3 }
      : { x: left + (mark * pw) / columns - 1.5, y: top - 2, width: pw / columns + 3, height: ph + 4 };
    const text = (x, y, anchor, t, extra = {}) =>
      el("svg:text", { x, y, "text-anchor": anchor, "font-size": 14, ...extra }, t);
    table.replaceChildren(
      el("svg:image", { href: images.get(key), x: left, y: top, width: pw, height: ph, preserveAspectRatio: "none",
        style: "image-rendering: pixelated" }),
      el("svg:rect", { ...marker, fill: "none", stroke: "currentColor", "stroke-width": 2.5 }),
      text(left - 6, top + ph / rows / 2 + 5, "end", String(first)),
      text(left - 6, top + ph - ph / rows / 2 + 5, "end", String(rows - 1 + first)),
      text(left + pw / columns / 2, H - bottom + 18, "middle", "0"),
      text(left + pw - pw / columns / 2, H - bottom + 18, "middle", String(columns - 1)),
      text(left + pw / 2, H - 6, "middle", `${columnLabel} →`),
      text(0, 0, "middle", `${rowLabel} →`, { transform: `translate(16,${top + ph / 2}) rotate(-90)` }));
  }

  // A small chart: y range [lo, hi], x range [x0, x1]; returns a function from data to SVG coordinates.
  function frame(svg, x0, x1, lo, hi, xLabel) {
    const left = 40, right = 8, top = 8, bottom = 34, W = 320, H = 190;
    const X = (x) => left + ((x - x0) / (x1 - x0 || 1)) * (W - left - right);
    const Y = (y) => top + ((hi - y) / (hi - lo || 1)) * (H - top - bottom);
    const tick = (v) => fixed(v).replace(/\.?0+$/, "") || "0";
    svg.replaceChildren(
      el("svg:line", { x1: left, x2: W - right, y1: Y(0), y2: Y(0), stroke: ROLE.neutral, "stroke-opacity": 0.55 }),
      el("svg:text", { x: left - 4, y: Y(hi) + 8, "text-anchor": "end", "font-size": 11 }, tick(hi)),
      el("svg:text", { x: left - 4, y: Y(lo), "text-anchor": "end", "font-size": 11 }, tick(lo)),
      el("svg:text", { x: X(x0), y: H - 18, "text-anchor": "start", "font-size": 11 }, String(x0)),
      el("svg:text", { x: X(x1), y: H - 18, "text-anchor": "end", "font-size": 11 }, String(x1)),
      el("svg:text", { x: (left + W - right) / 2, y: H - 4, "text-anchor": "middle", "font-size": 12 }, xLabel));
    return { X, Y };
  }
  const polyline = (points, attrs) => el("svg:polyline", { fill: "none", "stroke-width": 2,
    points: points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), ...attrs });

  function drawAlibi({ b, p, L, slopes, value }) {
    const H = b.rows, scale = 32767 / b.scale;
    setText(titles.table, `ALiBi bias added to the scores of the query at position ${p}, one row per head`);
    drawTable({ key: `alibi:${p}`, rows: H, columns: L, at: (h, j) => value(b, h, Math.abs(p - j)), scale,
      rowLabel: "head", columnLabel: "key position", markRow: false, mark: p, first: 1 });
    table.setAttribute("aria-label", `ALiBi bias from position ${p}: zero at the query, more negative with distance`);
    setText(range, "");
    setText(titles.vector, "slope of each head");
    const v = frame(vector, 1, H, 0, slopes[0], "head");
    vector.append(...slopes.map((s, h) => el("svg:rect", { x: v.X(h + 1) - 4, width: 8, y: v.Y(s),
      height: v.Y(0) - v.Y(s), fill: diverging.css(-1) })));
    setText(titles.similarity, "bias against the offset (the same from every position)");
    const f = frame(similarity, -p, L - 1 - p, -slopes[0] * (L - 1), 0, "offset to the key");
    slopes.forEach((s, h) => similarity.append(polyline(
      Array.from({ length: L }, (_, j) => [f.X(j - p), f.Y(value(b, h, Math.abs(j - p)))]),
      { stroke: diverging.css(-1 + (2 * h) / Math.max(H - 1, 1)) })));
    values.show("norm", "", { hidden: true });
    values.show("next", fixed(p + 1 < L ? value(b, 0, 1) : NaN),
      { label: p + 1 < L ? "bias to the next key, head 1" : `bias to the next key, head 1 (none: ${p} is the last)` });
    values.show("far", fixed(value(b, 0, p)), { label: "bias to position 0, head 1" });
    values.show("slope", fixed(slopes[H - 1]), { label: `slope of head ${H}`, hidden: false });
    setText(note, "No vector is added: each head just penalises distant keys, steeply (head 1) or gently.");
  }

  function drawTableMethod({ m, b, p, L, value, cos }) {
    const D = b.columns, largest = 32767 / b.scale;
    // The colour and the bars span ±scale: the largest |value|, or (for a learned table, whose few
    // outliers would wash everything else out) the 99th percentile of |value| that Python ships as
    // `clip`; values beyond it are drawn at the end of the scale.
    const scale = b.clip || largest, clipped = scale < largest;
    setText(titles.table, `${m.title}: ${L} positions × ${D} dimensions`);
    drawTable({ key: `${m.name}:${D}`, rows: L, columns: D, at: (r, c) => value(b, r, c), scale, rowLabel: "position",
      columnLabel: "dimension", markRow: true, mark: p });
    table.setAttribute("aria-label", `${m.title} table, ${L} positions by ${D} dimensions, position ${p} outlined`);
    setText(range, clipped
      ? `Colour and bars clipped at ±${scale.toPrecision(2)}, the 99th percentile of |value|; ${b.beyond} of ` +
        `${L * D} values lie beyond (largest |value| ${largest.toPrecision(3)}), drawn at the end of the scale.`
      : `Colour: from −${largest.toPrecision(2)} (blue) to +${largest.toPrecision(2)} (orange), the largest |value|.`);
    setText(titles.vector, `the vector at position ${p}`);
    const v = frame(vector, 0, D - 1, -scale, scale, "dimension");
    const bw = Math.max((v.X(1) - v.X(0)) * 0.8, 0.6);
    vector.append(...Array.from({ length: D }, (_, c) => {
      const x = Math.min(Math.max(value(b, p, c), -scale), scale);
      return el("svg:rect", { x: v.X(c) - bw / 2, width: bw, y: Math.min(v.Y(x), v.Y(0)),
        height: Math.abs(v.Y(x) - v.Y(0)), fill: diverging.css(x / scale) });
    }));
    setText(titles.similarity, `cosine similarity of position ${p} with the others`);
    const f = frame(similarity, -(L - 1), L - 1, -1, 1, "offset (other position − chosen)");
    // (A zero vector has no cosine: its points are left out rather than drawn at NaN.)
    const finite = (points) => points.filter(([, y]) => Number.isFinite(y));
    similarity.append(
      polyline(finite(Array.from({ length: L }, (_, j) => [f.X(j), f.Y(cos[j])])),
        { stroke: ROLE.neutral, "stroke-dasharray": "4 3", "stroke-width": 1.5 }),
      polyline(finite(Array.from({ length: L }, (_, j) => [f.X(j - p), f.Y(cos[p * L + j])])),
        { stroke: diverging.css(1) }));
    const norm = Math.sqrt(Array.from({ length: D }, (_, c) => value(b, p, c) ** 2).reduce((a, x) => a + x, 0));
    // Past the last position there is no position to name: say so rather than name one.
    values.show("norm", fixed(norm), { label: `length of the vector at ${p}`, hidden: false });
    values.show("next", fixed(p + 1 < L ? cos[p * L + p + 1] : NaN),
      { label: p + 1 < L ? `cosine with position ${p + 1}`
        : `cosine with the next position (none: ${p} is the last)` });
    values.show("far", fixed(p + 16 < L ? cos[p * L + p + 16] : NaN),
      { label: p + 16 < L ? `cosine with position ${p + 16}` : `cosine 16 positions on (none: the last is ${L - 1})` });
    values.show("slope", "", { hidden: true });
    setText(note, m.name === "learned"
      ? "Solid: from the chosen position. Dashed: from position 0. A learned table need not depend on the offset " +
        "alone."
      : "Solid: from the chosen position. Dashed: from position 0. They coincide: the similarity depends only on " +
        "the offset.");
  }

  const draw = (state) => (state.m.name === "alibi" ? drawAlibi(state) : drawTableMethod(state));
  return { elements, draw, clear: () => images.clear() };
}

function render({ model, el: root }) {
  let ints = int16s(model.get("data"));
  const cosines = new Map(); // "method:d_model" -> [L * L] cosine similarities, computed once
  const sizes = (m) => m.blocks.map((b) => b.d_model);
  const controls = buildControls(model, sizes), figure = buildFigure();
  const widget = widgetRoot("qkv-positional", controls.element, ...figure.elements);
  root.append(widget);
  const text = keepTextReadable(widget);

  const value = (b, r, c) => ints[b.offset + r * b.columns + c] / b.scale;
  function block(m) {
    if (m.name === "alibi" || m.blocks.length === 1) return m.blocks[0];
    return m.blocks.find((b) => b.d_model === model.get("d_model")) || m.blocks[m.blocks.length - 1];
  }
  function cosineMatrix(m, b) {
    const key = `${m.name}:${b.d_model}`;
    if (cosines.has(key)) return cosines.get(key);
    const L = b.rows, D = b.columns, rows = [];
    for (let r = 0; r < L; r++) rows.push(Float64Array.from({ length: D }, (_, c) => value(b, r, c)));
    const norms = rows.map((v) => Math.sqrt(v.reduce((a, x) => a + x * x, 0)));
    const cos = new Float64Array(L * L);
    for (let i = 0; i < L; i++) for (let j = i; j < L; j++) {
      let dot = 0;
      for (let c = 0; c < D; c++) dot += rows[i][c] * rows[j][c];
      const s = norms[i] > 0 && norms[j] > 0 ? dot / (norms[i] * norms[j]) : NaN;
      cos[i * L + j] = cos[j * L + i] = s;
    }
    cosines.set(key, cos);
    return cos;
  }

  function update() {
    const methods = model.get("methods"), m = methods.find((x) => x.name === model.get("method")) || methods[0];
    const b = block(m), L = model.get("max_len"), p = Math.min(model.get("position"), L - 1);
    const state = { m, b, p, L, value, slopes: m.slopes, cos: m.name === "alibi" ? null : cosineMatrix(m, b) };
    controls.show(state);
    figure.draw(state);
  }
  function rebuild() {
    controls.options(model.get("methods"));
    cosines.clear();
    figure.clear();
    update();
  }
  const onData = () => { ints = int16s(model.get("data")); rebuild(); };
  rebuild();
  const stop = listen(model, { method: update, d_model: update, position: update, data: onData, methods: onData });
  return () => { stop(); text.stop(); };
}

export default { render };
