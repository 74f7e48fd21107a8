// motifkit explorer: column selection -> tree node colours and the selection text.
//
// Runs in the browser whenever the shared column selection changes, whoever changed it
// (box or lasso in the image or layout view, a click on a tree node, or the kernel).
// It only writes derived values in place (node fractions, a text), never a selection,
// so it cannot start a feedback loop.
//
// args: columns (ColumnDataSource of the columns: label),
//       nodes   (ColumnDataSource of the tree nodes: members, fraction, n_selected),
//       motifs  (ColumnDataSource of the motif tiles: code, name),
//       info    (Div showing the selection text)
const selected = columns.selected.indices;
const n = columns.get_length();
const mask = new Uint8Array(n);
for (const i of selected) mask[i] = 1;

const members = nodes.data.members;
const fraction = nodes.data.fraction;
const n_selected = nodes.data.n_selected;
for (let g = 0; g < members.length; g++) {
  const m = members[g];
  let count = 0;
  for (let j = 0; j < m.length; j++) count += mask[m[j]];
  n_selected[g] = count;
  fraction[g] = m.length > 0 ? count / m.length : 0;
}
nodes.change.emit();

// Same text as motifkit.explore.views.selection_info.
const label = columns.data.label;
const names = new Map();
for (let k = 0; k < motifs.data.code.length; k++) names.set(motifs.data.code[k], motifs.data.name[k]);
if (selected.length === 0) {
  info.text = `0 of ${n} columns selected (box, lasso or click a tree node)`;
} else {
  const counts = new Map();
  for (const i of selected) counts.set(label[i], (counts.get(label[i]) || 0) + 1);
  const order = Array.from(counts.keys()).sort((a, b) => (counts.get(b) - counts.get(a)) || (a - b));
  const parts = order.slice(0, 6).map((k) => `${names.has(k) ? names.get(k) : "motif " + k} ${counts.get(k)}`);
  if (order.length > 6) parts.push("...");
  info.text = `${selected.length} of ${n} columns selected: ` + parts.join(", ");
}
