"""Helpers to drive the explorer page in a real browser (used by tests and benchmarks).

Nothing here imports a browser driver: the functions take a Playwright ``Page`` (or
anything with ``evaluate`` and ``mouse``). :data:`PAGE_JS` installs ``window.mk`` in the
page, with look-ups of Bokeh views and models by name, data -> page pixel conversion
and a timer of the next brush.
"""

from __future__ import annotations

__all__ = ["PAGE_JS", "install", "page_point", "drag_box", "click_node", "page_state", "wait_for_explorer"]

PAGE_JS = """
window.mk = {
  view(name) { return Bokeh.index.query_one(v => v.model != null && v.model.name === name); },
  model(name) {
    for (const d of Bokeh.documents) { const m = d.get_model_by_name(name); if (m != null) return m; }
    return null;
  },
  toPage(name, x, y) {
    const v = this.view(name);
    const r = v.canvas_view.el.getBoundingClientRect();
    return [r.left + v.frame.x_scale.compute(x), r.top + v.frame.y_scale.compute(y)];
  },
  state() {
    const columns = this.model('motifkit-columns');
    const nodes = this.model('motifkit-tree-nodes');
    return {
      selection: Array.from(columns.selected.indices).sort((a, b) => a - b),
      labels: Array.from(columns.data.label),
      keys: Array.from(nodes.data.key),
      fraction: Array.from(nodes.data.fraction),
      n_selected: Array.from(nodes.data.n_selected),
      info: this.model('motifkit-info').text,
      palette: Array.from(this.model('motifkit-label-colours').palette),
    };
  },
  overlay(view) {
    const source = this.model('motifkit-' + view + '-overlay');
    const image = source.data.image[0];
    return {pixels: Array.from(image), shape: Array.from(image.shape),
            x: source.data.x[0], y: source.data.y[0], dw: source.data.dw[0], dh: source.data.dh[0]};
  },
  arm() {
    // Resolve with times (ms) from the next pointer release to (select) the column
    // selection change and (painted) two animation frames after the last of the derived
    // updates: both overlay rasters and the tree node colours.
    return new Promise((resolve) => {
      const columns = this.model('motifkit-columns');
      const watched = ['motifkit-image-overlay', 'motifkit-layout-overlay', 'motifkit-tree-nodes']
        .map((name) => this.model(name));
      let released = null, selected = null;
      const pending = new Set();
      const onUp = () => { released = performance.now(); };
      document.addEventListener('pointerup', onUp, {capture: true, once: true});
      const finish = () => {
        requestAnimationFrame(() => requestAnimationFrame(() => {
          resolve({select: selected - released, painted: performance.now() - released,
                   n: columns.selected.indices.length});
        }));
      };
      const handlers = watched.map((model) => {
        const handler = () => {
          if (selected == null || !pending.has(model)) return;
          pending.delete(model);
          model.change.disconnect(handler);
          if (pending.size === 0) finish();
        };
        return [model, handler];
      });
      const onSelect = () => {
        columns.selected.change.disconnect(onSelect);
        selected = performance.now();
        for (const [model, handler] of handlers) { pending.add(model); model.change.connect(handler); }
      };
      columns.selected.change.connect(onSelect);
    });
  },
};
"""

_READY = ("() => window.Bokeh != null && Bokeh.index != null && Bokeh.index.query_one("
          "v => v.model != null && v.model.name === 'motifkit-tree') != null")


def wait_for_explorer(page, timeout_ms: int = 120_000) -> None:
    """Wait until the explorer's Bokeh views exist, then install ``window.mk``."""
    page.wait_for_function(_READY, timeout=timeout_ms)
    install(page)


def install(page) -> None:
    """Install the ``window.mk`` helpers in the page (idempotent)."""
    page.evaluate(f"() => {{ {PAGE_JS} }}")


def page_point(page, plot: str, x: float, y: float) -> tuple:
    """Page pixel coordinates of the data point (x, y) of a plot (``"image"``, ``"layout"``, ``"tree"``)."""
    px, py = page.evaluate(f"() => mk.toPage('motifkit-{plot}', {float(x)!r}, {float(y)!r})")
    return float(px), float(py)


def drag_box(page, plot: str, x0: float, y0: float, x1: float, y1: float, steps: int = 4) -> None:
    """Box-select by dragging the mouse from data point (x0, y0) to (x1, y1)."""
    a = page_point(page, plot, x0, y0)
    b = page_point(page, plot, x1, y1)
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=steps)
    page.mouse.move(*b, steps=steps)
    page.mouse.up()


def click_node(page, key: str, *, shift: bool = False) -> None:
    """Click the tree node with the given key (``"motif:k"`` or ``"cell:n"``)."""
    x, y = page.evaluate(
        "(key) => { const n = mk.model('motifkit-tree-nodes'); const g = Array.from(n.data.key).indexOf(key);"
        " if (g < 0) throw new Error('no tree node ' + key); return mk.toPage('motifkit-tree', n.data.x[g], n.data.y[g]); }",
        key,
    )
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(x, y)
    if shift:
        page.keyboard.up("Shift")


def page_state(page) -> dict:
    """Selection, labels, tree fractions, info text and palette as the page has them."""
    return page.evaluate("() => mk.state()")
