// MathJax configuration for pymdownx.arithmatex (generic mode): \( \) inline, \[ \] display.
// MathJax itself is vendored under javascripts/mathjax/ so that formulas render offline; the
// TeX packages that load extension files on demand (autoload, require) are switched off, so
// the page never asks for a file that is not there: every macro the docs use is in the
// bundled base/AMS packages.
window.MathJax = {
  tex: {
    // \( \) and \[ \]: arithmatex (pages and docstrings); $ and $$: what nbconvert emits for
    // the notebooks' Markdown cells.
    inlineMath: [["\\(", "\\)"], ["$", "$"]],
    displayMath: [["\\[", "\\]"], ["$$", "$$"]],
    processEscapes: true,
    processEnvironments: true,
    packages: { "[-]": ["autoload", "require"] },
  },
  options: {
    // Only inside the classes below.  ".+" (not arithmatex's usual ".*|", which also matches
    // an empty class attribute) so that the unclassed <p> elements inside a notebook's
    // Markdown output are typeset too; everything else on a page sits in classed containers.
    ignoreHtmlClass: ".+",
    // arithmatex: Markdown pages and docstrings; jp-MarkdownOutput: notebook prose.
    processHtmlClass: "arithmatex|jp-MarkdownOutput",
  },
};

// Material's instant navigation swaps the page body without reloading scripts; typeset the
// new content then.  On the first page MathJax typesets by itself once loaded, and before it
// has loaded (or if the script is missing) window.MathJax is still the plain configuration
// object above, which has no typesetting methods.
if (typeof document$ !== "undefined") {
  document$.subscribe(() => {
    const mj = window.MathJax;
    if (!mj || typeof mj.typesetPromise !== "function" || !mj.startup || !mj.startup.output) {
      return;
    }
    mj.startup.output.clearCache();
    mj.typesetClear();
    mj.texReset();
    mj.typesetPromise();
  });
}
