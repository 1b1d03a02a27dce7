// Attention-map explorer: a heatmap of the weights [query, key] and, beside it, the two rows of tokens
// joined by lines whose opacity is the weight (as BertViz draws them). Hover or focus a query token to
// see where it looks; hover or focus a key token to see who looks at it. Arrow keys move the focus.


const LINE = PALETTE.roles.query; // lines and highlights: blue, distinct from the orange focus ring

const short = (token, n = 12) => (token.length > n ? token.slice(0, n - 1) + "…" : token);

// The example picker, the layer slider and the head picker. options(examples, ex) refills them for an
// example; show(state) puts the current selection into them.
function buildControls(model) {
  const example = select("example"), layer = slider("layer", { min: 1 }), layerOut = el("output");
  const head = select("head");
  example.addEventListener("change", () => {
    const e = model.get("examples")[Number(example.value)];
    save(model, { example: Number(example.value), layer: Math.min(model.get("layer"), e.layers - 1),
      head: model.get("head") < e.heads ? model.get("head") : -1 });
  });
  layer.addEventListener("input", () => save(model, { layer: Number(layer.value) - 1 }));
  head.addEventListener("change", () => save(model, { head: Number(head.value) }));
  const element = controlRow(labelled("example", example), labelled("layer", layer, layerOut), labelled("head", head));

  function options(examples, ex) {
    example.replaceChildren(...examples.map((e, i) => el("option", { value: i }, short(e.label, 60))));
    example.disabled = examples.length < 2;
    layer.max = ex.layers;
    layer.disabled = ex.layers < 2;
    head.replaceChildren(el("option", { value: -1 }, `mean of ${ex.heads} head${ex.heads > 1 ? "s" : ""}`),
      ...Array.from({ length: ex.heads }, (_, h) => el("option", { value: h }, `head ${h + 1}`)));
    head.disabled = ex.heads < 2;
  }
  function show({ index, ex, layer: l, head: h }) {
    example.value = String(index);
    layer.value = l + 1;
    layerOut.value = `${l + 1} of ${ex.layers}`;
    head.value = String(h);
  }
  return { element, options, show };
}

// The heatmap and the lines. build(ex) makes the drawing for an example (tokens, cells, lines);
// draw(state) only changes colours and opacity. onFocus(focus) hears of hover and keyboard focus.
function buildFigure(titles, onFocus) {
  const heatmap = el("svg:svg", {
    role: "img", "aria-label": "attention weights: one row per query, one column per key", "data-drawing": "heatmap",
  });
  const lines = el("svg:svg", { "data-drawing": "lines", role: "group" });
  const note = el("p", { class: "qkv-note", "aria-live": "polite", "data-readout": "focus" });
  const legend = el("p", { class: "qkv-legend" });
  const elements = [el("div", { class: "qkv-panels" },
    el("div", { class: "qkv-panel" }, el("h3", {}, "weights"), heatmap),
    el("div", { class: "qkv-panel" }, el("h3", {}, "hover or focus a token"), lines)), note, legend];
  let cells = [], links = [], qNodes = [], kNodes = [], ex = null, shown = null, focus = null;

  // The heatmap's tooltip names the cell under the pointer (one <title>, filled on hover).
  const tip = el("svg:title");
  heatmap.addEventListener("mouseover", (e) => {
    const rect = e.target.closest("rect[data-i]");
    if (!rect || !shown) return;
    const i = Number(rect.dataset.i), j = Number(rect.dataset.j);
    tip.textContent = `${ex.query_tokens[i]} → ${ex.key_tokens[j]}: ${shown[i * ex.key_tokens.length + j].toFixed(3)}`;
    rect.append(tip);
  });

  function token(side, index, text, x, y, anchor) {
    const box = el("svg:rect", { class: "qkv-token-box", x: anchor === "end" ? x - 84 : x - 2, y: y - 13, width: 86,
      height: 18, rx: 3, fill: "transparent", stroke: "none" });
    const label = el("svg:text", { x, y, "text-anchor": anchor, "font-size": 13 }, short(text));
    // Roving focus: one token per row is in the Tab order; the arrow keys move between tokens.
    const g = el("svg:g", { class: "qkv-token", tabindex: index === 0 ? 0 : -1, role: "button", "data-side": side,
      "data-index": index, "aria-label": `${side === "q" ? titles.query : titles.key} token ${index + 1}: ${text}` },
    box, label);
    const enter = () => onFocus({ side, index });
    g.addEventListener("focus", () => (side === "q" ? qNodes : kNodes)
      .forEach((n, i) => n.setAttribute("tabindex", i === index ? 0 : -1)));
    const leave = () => { if (focus && focus.side === side && focus.index === index) onFocus(null); };
    g.addEventListener("mouseenter", enter);
    g.addEventListener("focus", enter);
    g.addEventListener("mouseleave", () => { if (document.activeElement !== g) leave(); });
    g.addEventListener("blur", leave);
    g.addEventListener("keydown", (e) => {
      const same = side === "q" ? qNodes : kNodes;
      const moves = { ArrowUp: [same, index - 1], ArrowDown: [same, index + 1] };
      if (side === "q") moves.ArrowRight = [kNodes, index];
      else moves.ArrowLeft = [qNodes, index];
      if (!(e.key in moves)) return;
      e.preventDefault();
      const [list, i] = moves[e.key];
      list[Math.min(Math.max(i, 0), list.length - 1)].focus();
    });
    return g;
  }

  function build(example) {
    ex = example;
    const qt = ex.query_tokens, kt = ex.key_tokens, nq = qt.length, nk = kt.length;
    const c = 22, left = 92, top = 70, width = left + nk * c + 30;
    heatmap.setAttribute("viewBox", `0 0 ${width} ${top + nq * c + 4}`);
    heatmap.style.maxWidth = `${1.5 * width}px`;
    heatmap.replaceChildren();
    cells = [];
    qt.forEach((t, i) => heatmap.append(el("svg:text", { x: left - 5, y: top + i * c + 15, "text-anchor": "end",
      "font-size": 12 }, short(t))));
    kt.forEach((t, j) => heatmap.append(el("svg:text", {
      transform: `translate(${left + j * c + 15},${top - 5}) rotate(-60)`, "font-size": 12 }, short(t))));
    for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) {
      const rect = el("svg:rect", { x: left + j * c, y: top + i * c, width: c - 1, height: c - 1,
        "data-i": i, "data-j": j });
      heatmap.append(rect);
      cells.push(rect);
    }

    const rows = Math.max(nq, nk), h = 22, xq = 100, xk = 240, top2 = 36;
    const yq = (i) => top2 + (i + 0.5) * h * (rows / nq), yk = (j) => top2 + (j + 0.5) * h * (rows / nk);
    lines.setAttribute("viewBox", `0 0 340 ${top2 + rows * h + 6}`);
    lines.style.maxWidth = "510px";
    lines.replaceChildren(
      el("svg:text", { x: 4, y: 20, "font-size": 12, "font-weight": 600 }, titles.query),
      el("svg:text", { x: 336, y: 20, "text-anchor": "end", "font-size": 12, "font-weight": 600 }, titles.key));
    links = [];
    const linkGroup = el("svg:g");
    lines.append(linkGroup);
    for (let i = 0; i < nq; i++) for (let j = 0; j < nk; j++) {
      const line = el("svg:line", { x1: xq + 4, y1: yq(i) - 4, x2: xk - 4, y2: yk(j) - 4, stroke: LINE,
        "stroke-linecap": "round" });
      linkGroup.append(line);
      links.push(line);
    }
    qNodes = qt.map((t, i) => token("q", i, t, xq, yq(i), "end"));
    kNodes = kt.map((t, j) => token("k", j, t, xk, yk(j), "start"));
    lines.append(...qNodes, ...kNodes);
    lines.setAttribute("aria-label",
      `${titles.query} on the left, ${titles.key} on the right; focus a token to see its weights`);
    legend.textContent = `Colour: weight from 0 (dark purple) to 1 (yellow). Rows are ${titles.query}, ` +
      `columns ${titles.key}; each row sums to 1.`;
  }

  function draw({ layer, head, w, focus: f }) {
    focus = f;
    shown = w;
    const qt = ex.query_tokens, kt = ex.key_tokens, nk = kt.length;
    const lit = (n) => !focus || (focus.side === "q" ? focus.index === Math.floor(n / nk) : focus.index === n % nk);
    cells.forEach((rect, n) => {
      set(rect, "fill", viridis(w[n]));
      set(rect, "data-weight", w[n]);
      set(rect, "opacity", lit(n) ? 1 : 0.35);
    });
    links.forEach((line, n) => {
      const on = lit(n);
      set(line, "stroke-opacity", on ? (focus ? w[n] : w[n] * 0.6).toFixed(3) : 0);
      set(line, "stroke-width", on && focus ? (1 + 5 * w[n]).toFixed(2) : 1.5);
    });
    for (const [nodes, side] of [[qNodes, "q"], [kNodes, "k"]]) nodes.forEach((g, i) => {
      const selected = focus && focus.side === side && focus.index === i;
      set(g.firstChild, "fill", selected ? withAlpha(LINE, 0.2) : "transparent");
    });
    const which = head < 0 ? "mean over heads" : `head ${head + 1}`;
    heatmap.setAttribute("aria-label", `Attention weights, layer ${layer + 1}, ${which}`);

    if (!focus) {
      note.textContent = `Layer ${layer + 1}, ${head < 0 ? `mean of ${ex.heads} heads` : `head ${head + 1}`}. ` +
        "Hover or focus a token (Tab, then arrow keys).";
      return;
    }
    const i = focus.index;
    const pairs = focus.side === "q" ? kt.map((t, j) => [t, w[i * nk + j]]) : qt.map((t, r) => [t, w[r * nk + i]]);
    const top = pairs.map((p, n) => [...p, n]).sort((a, b) => b[1] - a[1]).slice(0, 3)
      .map(([t, v, n]) => `“${t}” (${focus.side === "q" ? "key" : "query"} ${n + 1}) ${v.toFixed(2)}`).join(", ");
    note.textContent = focus.side === "q"
      ? `“${qt[i]}” (query ${i + 1}) attends most to ${top}.`
      : `“${kt[i]}” (key ${i + 1}) gets the most weight from ${top}.`;
  }
  return { elements, build, draw };
}

function render({ model, el: root }) {
  let values = decodeInt16(model.get("weights"), model.get("scale"));
  let focus = null; // { side: "q" | "k", index }
  const controls = buildControls(model);
  const figure = buildFigure({ query: model.get("query_title"), key: model.get("key_title") },
    (f) => { focus = f; draw(); });
  const widget = widgetRoot("qkv-attention", controls.element, ...figure.elements);
  root.append(widget);
  const text = keepTextReadable(widget);

  const example = () => model.get("examples")[Math.min(model.get("example"), model.get("examples").length - 1)];
  // The [q, k] weights shown now: one head, or the mean over the heads of the layer.
  function state() {
    const ex = example(), layer = Math.min(model.get("layer"), ex.layers - 1);
    const head = model.get("head") < ex.heads ? model.get("head") : -1;
    const size = ex.query_tokens.length * ex.key_tokens.length, base = ex.offset + layer * ex.heads * size;
    const w = new Float32Array(size), heads = head < 0 ? [...Array(ex.heads).keys()] : [head];
    for (const h of heads) for (let i = 0; i < size; i++) w[i] += values[base + h * size + i] / heads.length;
    return { index: model.get("example"), ex, layer, head, w, focus };
  }
  function draw() {
    const s = state();
    controls.show(s);
    figure.draw(s);
  }
  function build() {
    controls.options(model.get("examples"), example());
    figure.build(example());
    focus = null;
    draw();
    text.zoom();
  }
  const onData = () => { values = decodeInt16(model.get("weights"), model.get("scale")); build(); };
  build();
  const stop = listen(model, { example: build, layer: draw, head: draw, weights: onData, examples: onData });
  return () => { stop(); text.stop(); };
}

export default { render };
