// Positional-encoding explorer. Python ships each method's table(s) [positions, d_model] (ALiBi: the
// bias [heads, distance]); this file draws the table (a heatmap image), one position's vector and the cosine
// similarity between that position and the others against their offset (SVG).

// 256 colours ([r, g, b]) from -1 to 1, so painting a cell is one lookup.
const LUT = sample(DIVERGING, 256);
const colour = (t) => LUT[Math.round((Math.min(Math.max(t, -1), 1) + 1) * 127.5)];
const css = (t) => toCss(colour(t));
const fmt = (x) => (Number.isFinite(x) ? (Math.abs(x) < 5e-4 ? "0.000" : x.toFixed(3)) : "—");

function render({ model, el: root }) {
  let ints = int16s(model.get("data"));
  const cosines = new Map(); // "method:d_model" -> [L * L] cosine similarities, computed once

  const methodSelect = el("select", { "data-control": "method" });
  const dInput = el("input", { type: "range", min: 0, step: 1, "data-control": "d_model" });
  const dOut = el("output");
  const posInput = el("input", { type: "range", min: 0, step: 1, "data-control": "position" });
  const posOut = el("output");
  const controls = el("div", { class: "qkv-controls" },
    el("label", {}, "method", methodSelect),
    el("label", {}, el("span", {}, "d", el("sub", {}, "model")), dInput, dOut),
    el("label", {}, "position", posInput, posOut));

  const table = el("svg:svg", { viewBox: "0 0 640 300", role: "img", "data-drawing": "table" });
  const tableTitle = el("h4");
  const vector = el("svg:svg", { viewBox: "0 0 320 190", role: "img", "data-drawing": "vector" });
  const vectorTitle = el("h4");
  const similarity = el("svg:svg", { viewBox: "0 0 320 190", role: "img", "data-drawing": "similarity" });
  const similarityTitle = el("h4");
  const readouts = el("dl", { class: "qkv-readouts" });
  const note = el("p", { class: "qkv-note", "aria-live": "polite" });
  root.append(el("div", { class: "qkv-widget qkv-positional" }, controls,
    el("div", { class: "qkv-panel" }, tableTitle, table),
    el("div", { class: "qkv-panels" },
      el("div", { class: "qkv-panel" }, vectorTitle, vector),
      el("div", { class: "qkv-panel" }, similarityTitle, similarity)),
    readouts, note));

  const methods = () => model.get("methods");
  const methodEntry = () => methods().find((m) => m.name === model.get("method")) || methods()[0];
  const sizes = (m) => m.blocks.map((b) => b.d_model);
  function block(m) {
    if (m.name === "alibi" || m.blocks.length === 1) return m.blocks[0];
    return m.blocks.find((b) => b.d_model === model.get("d_model")) || m.blocks[m.blocks.length - 1];
  }
  const value = (b, r, c) => ints[b.offset + r * b.columns + c] / b.scale;
  const largest = (b) => 32767 / b.scale;

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

  // The table as a heatmap: rows x columns of values / range (one pixel per cell, scaled up without
  // smoothing), with a marker on the chosen row (or column).
  // The images are cached by `key` (a table does not change with the position; ALiBi's does).
  const cellCanvas = document.createElement("canvas"), images = new Map();
  function drawTable(key, rows, columns, at, range, rowLabel, columnLabel, markRow, markIndex) {
    const W = 640, H = 300, left = 46, top = 6, right = 8, bottom = 40, pw = W - left - right, ph = H - top - bottom;
    if (!images.has(key)) {
      const cells = new ImageData(columns, rows);
      for (let r = 0; r < rows; r++) for (let c = 0; c < columns; c++) {
        const [R, G, B] = colour(at(r, c) / range), n = 4 * (r * columns + c);
        cells.data[n] = R; cells.data[n + 1] = G; cells.data[n + 2] = B; cells.data[n + 3] = 255;
      }
      cellCanvas.width = columns; cellCanvas.height = rows;
      cellCanvas.getContext("2d").putImageData(cells, 0, 0);
      if (images.size > 64) images.clear();
      images.set(key, cellCanvas.toDataURL());
    }
    const marker = markRow
      ? { x: left - 2, y: top + (markIndex * ph) / rows - 1.5, width: pw + 4, height: ph / rows + 3 }
      : { x: left + (markIndex * pw) / columns - 1.5, y: top - 2, width: pw / columns + 3, height: ph + 4 };
    const text = (x, y, anchor, t, extra = {}) => el("svg:text", { x, y, "text-anchor": anchor, "font-size": 14, ...extra }, t);
    table.replaceChildren(
      el("svg:image", { href: images.get(key), x: left, y: top, width: pw, height: ph, preserveAspectRatio: "none", style: "image-rendering: pixelated" }),
      el("svg:rect", { ...marker, fill: "none", stroke: "currentColor", "stroke-width": 2.5 }),
      text(left - 6, top + ph / rows / 2 + 5, "end", "0"),
      text(left - 6, top + ph - ph / rows / 2 + 5, "end", String(rows - 1)),
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
    svg.replaceChildren(
      el("svg:line", { x1: left, x2: W - right, y1: Y(0), y2: Y(0), stroke: "#9998" }),
      el("svg:text", { x: left - 4, y: Y(hi) + 8, "text-anchor": "end", "font-size": 11 }, fmt(hi).replace(/\.?0+$/, "")),
      el("svg:text", { x: left - 4, y: Y(lo), "text-anchor": "end", "font-size": 11 }, fmt(lo).replace(/\.?0+$/, "") || "0"),
      el("svg:text", { x: X(x0), y: H - 18, "text-anchor": "start", "font-size": 11 }, String(x0)),
      el("svg:text", { x: X(x1), y: H - 18, "text-anchor": "end", "font-size": 11 }, String(x1)),
      el("svg:text", { x: (left + W - right) / 2, y: H - 4, "text-anchor": "middle", "font-size": 12 }, xLabel));
    return { X, Y };
  }
  const polyline = (points, attrs) => el("svg:polyline", { fill: "none", "stroke-width": 2, points: points.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(" "), ...attrs });

  function readout(entries) {
    readouts.replaceChildren(...entries.map(([name, label, text]) =>
      el("div", {}, el("dt", {}, label), el("dd", { "data-readout": name }, text))));
  }

  function draw() {
    const m = methodEntry(), b = block(m), p = Math.min(model.get("position"), model.get("max_len") - 1);
    const L = model.get("max_len"), alibi = m.name === "alibi";
    methodSelect.value = m.name;
    const choices = sizes(m);
    dInput.max = Math.max(choices.length - 1, 0);
    dInput.disabled = alibi || choices.length < 2;
    dInput.value = Math.max(choices.indexOf(b.d_model), 0);
    dOut.value = alibi ? "—" : String(b.d_model);
    dInput.setAttribute("aria-valuetext", alibi ? "not used by ALiBi" : `d_model = ${b.d_model}`);
    posInput.max = L - 1;
    posInput.value = p;
    posOut.value = String(p);

    if (alibi) {
      const H = b.rows, slopes = m.slopes, range = largest(b);
      tableTitle.textContent = `ALiBi bias added to the scores of the query at position ${p}, one row per head`;
      drawTable(`alibi:${p}`, H, L, (h, j) => value(b, h, Math.abs(p - j)), range, "head", "key position", false, p);
      table.setAttribute("aria-label", `ALiBi bias from position ${p}: zero at the query, more negative with distance`);
      vectorTitle.textContent = "slope of each head";
      const v = frame(vector, 1, H, 0, slopes[0], "head");
      vector.append(...slopes.map((s, h) => el("svg:rect", { x: v.X(h + 1) - 4, width: 8, y: v.Y(s), height: v.Y(0) - v.Y(s), fill: DIVERGING[0] })));
      similarityTitle.textContent = "bias against the offset (the same from every position)";
      const lo = -slopes[0] * (L - 1);
      const f = frame(similarity, -p, L - 1 - p, lo, 0, "offset to the key");
      slopes.forEach((s, h) => similarity.append(polyline(
        Array.from({ length: L }, (_, j) => [f.X(j - p), f.Y(value(b, h, Math.abs(j - p)))]),
        { stroke: css(-1 + (2 * h) / Math.max(H - 1, 1)) })));
      readout([
        ["next", "bias to the next key, head 1", fmt(p + 1 < L ? value(b, 0, 1) : NaN)],
        ["far", `bias to position 0, head 1`, fmt(value(b, 0, p))],
        ["slope", `slope of head ${H}`, fmt(slopes[H - 1])]]);
      note.textContent = "No vector is added: each head just penalises distant keys, steeply (head 1) or gently.";
      return;
    }

    const D = b.columns, range = largest(b);
    tableTitle.textContent = `${m.title}: ${L} positions × ${D} dimensions`;
    drawTable(`${m.name}:${D}`, L, D, (r, c) => value(b, r, c), range, "position", "dimension", true, p);
    table.setAttribute("aria-label", `${m.title} table, ${L} positions by ${D} dimensions, position ${p} outlined`);
    vectorTitle.textContent = `the vector at position ${p}`;
    const v = frame(vector, 0, D - 1, -range, range, "dimension");
    const bw = Math.max((v.X(1) - v.X(0)) * 0.8, 0.6);
    vector.append(...Array.from({ length: D }, (_, c) => {
      const x = value(b, p, c);
      return el("svg:rect", { x: v.X(c) - bw / 2, width: bw, y: Math.min(v.Y(x), v.Y(0)), height: Math.abs(v.Y(x) - v.Y(0)), fill: css(x / range) });
    }));
    similarityTitle.textContent = `cosine similarity of position ${p} with the others`;
    const cos = cosineMatrix(m, b);
    const f = frame(similarity, -(L - 1), L - 1, -1, 1, "offset (other position − chosen)");
    // (A zero vector has no cosine: its points are left out rather than drawn at NaN.)
    const finite = (points) => points.filter(([, y]) => Number.isFinite(y));
    similarity.append(
      polyline(finite(Array.from({ length: L }, (_, j) => [f.X(j), f.Y(cos[j])])), { stroke: "#888", "stroke-dasharray": "4 3", "stroke-width": 1.5 }),
      polyline(finite(Array.from({ length: L }, (_, j) => [f.X(j - p), f.Y(cos[p * L + j])])), { stroke: DIVERGING[4] }));
    const norm = Math.sqrt(Array.from({ length: D }, (_, c) => value(b, p, c) ** 2).reduce((a, x) => a + x, 0));
    readout([
      ["norm", `length of the vector at ${p}`, fmt(norm)],
      ["next", `cosine with position ${p + 1}`, fmt(p + 1 < L ? cos[p * L + p + 1] : NaN)],
      ["far", `cosine with position ${p + 16}`, fmt(p + 16 < L ? cos[p * L + p + 16] : NaN)]]);
    note.textContent = m.name === "learned"
      ? "Solid: from the chosen position. Dashed: from position 0. A learned table need not depend on the offset alone."
      : "Solid: from the chosen position. Dashed: from position 0. They coincide: the similarity depends only on the offset.";
  }

  function buildMethods() {
    methodSelect.replaceChildren(...methods().map((m) => el("option", { value: m.name }, m.title)));
    cosines.clear();
    images.clear();
    draw();
  }
  const update = (changes) => { model.set(changes); model.save_changes(); };
  methodSelect.addEventListener("change", () => {
    const m = methods().find((x) => x.name === methodSelect.value), choices = sizes(m);
    const d = choices.includes(model.get("d_model")) || m.name === "alibi" ? model.get("d_model") : choices[choices.length - 1];
    update({ method: m.name, d_model: d });
  });
  dInput.addEventListener("input", () => update({ d_model: sizes(methodEntry())[Number(dInput.value)] }));
  posInput.addEventListener("input", () => update({ position: Number(posInput.value) }));
  const onData = () => { ints = int16s(model.get("data")); buildMethods(); };
  const handlers = { "change:method": draw, "change:d_model": draw, "change:position": draw, "change:data": onData, "change:methods": onData };
  for (const [name, fn] of Object.entries(handlers)) model.on(name, fn);
  buildMethods();
  return () => { for (const [name, fn] of Object.entries(handlers)) model.off(name, fn); };
}

export default { render };
