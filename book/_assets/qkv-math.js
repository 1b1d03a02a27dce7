// Display equations wider than the text column scroll sideways (qkv.css). A keyboard reader can only
// scroll a box that can take focus, so exactly those equations become Tab stops (focus reads the
// equation itself; MathJax's assistive MathML is inside); every other formula stays out of the Tab order
// (_config.yml: MathJax menuOptions.settings.inTabOrder = false). Re-checked when the window resizes.
// The same for a wide diagram (`:class: qkv-wide`, qkv-diagrams.css), which scrolls sideways on a phone.
(function () {
  "use strict";
  function markDiagrams() {
    document.querySelectorAll("figure.qkv-diagram.qkv-wide").forEach(function (f) {
      var wide = f.scrollWidth > f.clientWidth + 1;
      if (wide && f.dataset.qkvScroll !== "1") {
        f.dataset.qkvScroll = "1";
        f.setAttribute("tabindex", "0");
      } else if (!wide && f.dataset.qkvScroll === "1") {
        delete f.dataset.qkvScroll;
        f.removeAttribute("tabindex");
      }
    });
  }
  function mark() {
    document.querySelectorAll('mjx-container[jax="CHTML"][display="true"]').forEach(function (m) {
      var wide = m.scrollWidth > m.clientWidth + 1;
      if (wide && m.dataset.qkvScroll !== "1") {
        m.dataset.qkvScroll = "1";
        m.setAttribute("tabindex", "0");
      } else if (!wide && m.dataset.qkvScroll === "1") {
        delete m.dataset.qkvScroll;
        m.removeAttribute("tabindex");
      }
    });
  }
  function start() {
    markDiagrams();
    var diagramTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(diagramTimer);
      diagramTimer = setTimeout(markDiagrams, 150);
    });
    var mj = window.MathJax;
    if (!mj || !mj.startup || !mj.startup.promise) return;
    mj.startup.promise.then(function () {
      mark();
      var timer = null;
      window.addEventListener("resize", function () {
        clearTimeout(timer);
        timer = setTimeout(mark, 150);
      });
    });
  }
  if (document.readyState === "complete") start();
  else window.addEventListener("load", start);
})();
