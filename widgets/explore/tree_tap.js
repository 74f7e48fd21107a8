// motifkit explorer: a click on a tree node selects its member columns (shift: adds them).
//
// Driven by the Tap gesture event of the tree plot, not by a selection of the node
// source: BokehJS runs CustomJS asynchronously, so links driven by selection changes
// can feed back into each other.
//
// args: columns (ColumnDataSource of the columns), nodes (ColumnDataSource of the tree
//       nodes: x, y, r in data units and members, the member column indices)
const x = nodes.data.x, y = nodes.data.y, r = nodes.data.r, members = nodes.data.members;
let hit = -1;
let best = Infinity;
for (let g = 0; g < x.length; g++) {
  const d2 = (cb_obj.x - x[g]) ** 2 + (cb_obj.y - y[g]) ** 2;
  if (d2 <= r[g] * r[g] && d2 < best) {
    best = d2;
    hit = g;
  }
}
if (hit < 0) return;
let picked = Array.from(members[hit]);
if (cb_obj.modifiers != null && cb_obj.modifiers.shift) {
  const merged = new Set(columns.selected.indices);
  for (const i of picked) merged.add(i);
  picked = Array.from(merged).sort((a, b) => a - b);
}
columns.selected.indices = picked;
