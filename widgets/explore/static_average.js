// motifkit explorer (standalone page only): the selection tile as a mix of class averages.
//
// A saved page cannot hold every patch, so it shows sum_k n_k A_k / sum_k n_k, with n_k
// selected columns of motif k and A_k its class average (the same as
// motifkit.explore.views.motif_mix_average). The live widget computes the exact mean
// patch in the kernel instead.
//
// args: columns (ColumnDataSource: label), tile (ColumnDataSource of the selection tile:
//       image, title), averages (Float32Array, K * size * size), size, n_motifs
const selected = columns.selected.indices;
const label = columns.data.label;
const counts = new Float64Array(n_motifs);
for (const i of selected) counts[label[i]] += 1;
const total = selected.length;
const npx = size * size;
// Written in place: the glyph needs the 2-D array (with its shape) sent from Python.
const image = tile.data.image[0];
image.fill(0);
if (total > 0) {
  const mix = new Float64Array(npx);
  for (let k = 0; k < n_motifs; k++) {
    if (counts[k] === 0) continue;
    const w = counts[k] / total;
    for (let p = 0; p < npx; p++) mix[p] += w * averages[k * npx + p];
  }
  let low = Infinity, high = -Infinity;
  for (let p = 0; p < npx; p++) {
    low = Math.min(low, mix[p]);
    high = Math.max(high, mix[p]);
  }
  const span = high > low ? high - low : 1;
  for (let p = 0; p < npx; p++) {
    const g = Math.round((255 * (mix[p] - low)) / span);
    image[p] = ((255 << 24) | (g << 16) | (g << 8) | g) >>> 0;
  }
}
tile.data.title[0] = total > 0 ? `selection (${total})` : "selection (none)";
tile.change.emit();
