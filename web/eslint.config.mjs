// ESLint for the widgets' front ends (src/qkv/widgets/*.js). Run: `npm run lint` here, or `make lint-js`.
//
// A widget's front end is not one file: anywidget loads a module from a string, so Python ships
// `const PALETTE = {...};` + shared.js + the widget's file as one ES module (qkv.widgets._common.front_end).
// We lint the files as written, not the concatenation, so that every report names a real file and line:
// shared.js is linted with PALETTE as a global, and each widget file with PALETTE and every top-level
// name of shared.js as globals. Those names are read from shared.js itself (below), so the list cannot
// drift. Because the files end up in one module, a widget must not declare a name shared.js already
// declares (that would be a SyntaxError at run time): no-shadow with builtinGlobals reports it.
// shared.js's top-level helpers are used by the other files, so no-unused-vars ignores them there
// (and only them: an unused local name is still reported).
import { readFileSync } from "node:fs";
import js from "@eslint/js";
import globals from "globals";

// ESLint ignores files outside its base path, so `npm run lint` runs it from the repository root with
// --config web/eslint.config.mjs: the base path is then the root, and patterns are relative to it.
const WIDGETS = "src/qkv/widgets";
const shared = readFileSync(new URL(`../${WIDGETS}/shared.js`, import.meta.url), "utf8");
const sharedNames = [...shared.matchAll(/^(?:const|let|function)\s+([A-Za-z_$][\w$]*)/gm)].map((m) => m[1]);
const pick = (all, names) => Object.fromEntries(names.map((name) => [name, all[name]]));
const readonly = (names) => Object.fromEntries(names.map((name) => [name, "readonly"]));

const configs = [
  { ...js.configs.recommended, files: [`${WIDGETS}/*.js`] },
  {
    files: [`${WIDGETS}/*.js`],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      // Only the browser globals the widgets use, so that no-shadow below can guard all of them.
      globals: { ...pick(globals.browser, ["document", "ResizeObserver", "ImageData"]), PALETTE: "readonly" },
    },
    rules: {
      // 120 columns, as the Python code; most lines already kept it when the linter came in.
      "max-len": ["error", { code: 120, ignoreUrls: true }],
      "no-shadow": ["error", { builtinGlobals: true }],
      "prefer-const": "error",
      "no-var": "error",
      eqeqeq: "error",
    },
  },
  {
    files: [`${WIDGETS}/shared.js`],
    rules: { "no-unused-vars": ["error", { varsIgnorePattern: `^(${sharedNames.join("|")})$` }] },
  },
  {
    files: [`${WIDGETS}/*.js`],
    ignores: [`${WIDGETS}/shared.js`],
    languageOptions: { globals: readonly(sharedNames) },
  },
];
export default configs;
