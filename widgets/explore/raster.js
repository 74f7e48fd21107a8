// motifkit explorer: draw the columns of one view into its RGBA overlay image.
//
// Canvas vector markers cost about 10 us each, too slow to redraw 100k columns on every
// brush, so each view shows its columns as one image at screen resolution, redrawn here
// when the selection, the labels, the colours or the visible range change. Columns are
// drawn unselected first, then selected, each group in index order, later ones on top:
// the same rule as motifkit.explore.views.rasterize_columns, which draws the initial
// image in Python (a saved page runs no callback at load), so both give identical pixels.
// The glyphs that take box, lasso and tap hits stay in the plot, but draw nothing.
//
// args: columns (ColumnDataSource: label and the coordinate fields),
//       overlay (ColumnDataSource of one image_rgba: image (height x width), x, y, dw, dh),
//       mapper (LinearColorMapper: palette, one colour per motif code),
//       x_range, y_range (the view's ranges), xfield, yfield (column names),
//       radius (disk radius in data units, 0 to use radius_px), radius_px,
//       selected_radius_px (smallest disk radius of selected columns, raster pixels),
//       width, height (raster size), alpha_plain, alpha_selected, alpha_faded (0..255),
//       coalesce (true: draw at the next animation frame, once, e.g. while panning)
function draw() {
  const xs = columns.data[xfield];
  const ys = columns.data[yfield];
  const label = columns.data.label;
  const n = xs.length;
  const x0 = Math.min(x_range.start, x_range.end), x1 = Math.max(x_range.start, x_range.end);
  const y0 = Math.min(y_range.start, y_range.end), y1 = Math.max(y_range.start, y_range.end);
  if (!(x1 > x0 && y1 > y0)) return;
  const mask = new Uint8Array(n);
  const selected = columns.selected.indices;
  for (const i of selected) mask[i] = 1;
  const any_selected = selected.length > 0;

  const pack = (alpha) => mapper.palette.map((hex) => {
    const v = parseInt(String(hex).slice(1, 7), 16);
    return ((alpha << 24) | ((v & 0xff) << 16) | (v & 0xff00) | ((v >> 16) & 0xff)) >>> 0;
  });
  const plain = pack(alpha_plain), strong = pack(alpha_selected), faded = pack(alpha_faded);

  const rp = radius > 0 ? (radius * width) / (x1 - x0) : radius_px;
  const rp_selected = Math.max(rp, selected_radius_px);
  const reach = Math.floor(Math.max(rp, rp_selected));
  // Raster cell of every column, cached while the range and the coordinates stay the same
  // (a brush changes only the selection).
  let cache = overlay.__motifkit_cells;
  if (cache == null || cache.xs !== xs || cache.ys !== ys || cache.x0 !== x0 || cache.x1 !== x1 ||
      cache.y0 !== y0 || cache.y1 !== y1) {
    const col = new Int32Array(n), row = new Int32Array(n);
    const near = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = Math.floor(((xs[i] - x0) / (x1 - x0)) * width);
      const r = Math.floor(((ys[i] - y0) / (y1 - y0)) * height);
      col[i] = c;
      row[i] = r;
      near[i] = c >= -reach && c < width + reach && r >= -reach && r < height + reach ? 1 : 0;
    }
    cache = {xs, ys, x0, x1, y0, y1, col, row, near};
    overlay.__motifkit_cells = cache;
  }
  const {col, row, near} = cache;
  const disk = (radius_px_) => {
    const r = Math.floor(radius_px_), dc = [], dr = [];
    for (let b = -r; b <= r; b++) {
      for (let a = -r; a <= r; a++) {
        if (a * a + b * b <= radius_px_ * radius_px_) { dc.push(a); dr.push(b); }
      }
    }
    return [dc, dr];
  };
  const image = overlay.data.image[0];
  image.fill(0);
  const paint = (i, colour, dc, dr) => {
    const c = col[i], r = row[i];
    for (let k = 0; k < dc.length; k++) {
      const cc = c + dc[k], rr = r + dr[k];
      if (cc >= 0 && cc < width && rr >= 0 && rr < height) image[rr * width + cc] = colour;
    }
  };
  const base = any_selected ? faded : plain;
  const [dc, dr] = disk(rp);
  for (let i = 0; i < n; i++) if (near[i] && !mask[i]) paint(i, base[label[i]], dc, dr);
  if (any_selected) {
    const [sdc, sdr] = disk(rp_selected);
    for (let i = 0; i < n; i++) if (near[i] && mask[i]) paint(i, strong[label[i]], sdc, sdr);
  }
  overlay.data.x[0] = x0;
  overlay.data.y[0] = y0;
  overlay.data.dw[0] = x1 - x0;
  overlay.data.dh[0] = y1 - y0;
  overlay.change.emit();
}

if (coalesce) {
  if (overlay.__motifkit_frame) return;
  overlay.__motifkit_frame = requestAnimationFrame(() => {
    overlay.__motifkit_frame = 0;
    draw();
  });
} else {
  draw();
}
