// Loaded on pages that hold widgets, after require.js and before the Jupyter widgets HTML manager.
// The HTML manager asks require.js for each widget's front-end module by name ("anywidget") and only
// falls back to a CDN when that fails. Pointing the names at the copies this site serves keeps the
// book working offline. The paths come from this script's own URL, so they hold at any page depth.
(function () {
  var here = document.currentScript.src;
  var base = here.substring(0, here.lastIndexOf("/") + 1) + "vendor/"; // .../_static/vendor/
  window.requirejs.config({
    paths: {
      anywidget: base + "anywidget/index",
      // The bundled @jupyter-widgets modules find their Font Awesome files relative to their own
      // module URL; map both name prefixes they use onto the folder that holds those files.
      "@jupyter-widgets/html-manager/dist": base + "html-manager",
      "@jupyter-widgets": base + "html-manager",
    },
  });
})();
