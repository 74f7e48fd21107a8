"""Accuracy of the core motif pipeline (issue 3), printed as a Markdown report.

The unit tests assert the thresholds; this script prints the measured values for the
README and ``benchmarks/RESULTS_accuracy.md``:

1. synthetic 2H-MoSe2 (0.2 A/px, 3 % Se vacancies, 1 % W on Mo, dose 1000 e/A^2): column
   recall, precision and RMSE against the simulator's columns; ARI of the motif labels
   against the context column types (``Mo_nextto_V`` ...);
2. the real WSe2:Ti micrograph against the authors' positions and labels (recall,
   precision at 0.3 x nearest-neighbour distance, macro-F1, confusion matrix);
3. FR vs UMAP on the imbalanced 66-d mixture (same kNN graph definition), ARI and the
   small cluster's recall;
4. rotation invariance of the Zernike features: relative change of the per-type mean
   features of the same columns when the simulated lattice itself is rotated (no
   interpolation), with the hard disk edge and with the pipeline's taper.

Usage::

    .venv/bin/python benchmarks/accuracy.py [--seeds 0 1 2] [--edge-taper 0.3] [--skip-mixture]
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score


def synthetic_mose2(seed: int, edge_taper: float | None = None):
    """Columns and motifs on a simulated MoSe2 image with vacancies and dopants."""
    import motifkit
    from motifkit import simulate
    from motifkit.evaluation import match_positions, nearest_neighbour_distance

    rng = np.random.default_rng(seed)
    geometry = simulate.ImageGeometry((512, 512), 0.2)
    structure = simulate.tmd_monolayer("MoSe2").tile_for_view(geometry)
    structure = simulate.add_vacancies(structure, "Se", density=0.03, double_fraction=0.0, random_state=rng)
    structure = simulate.substitute(structure, "Mo", "W", density=0.01, random_state=rng)
    sim = simulate.simulate_stem(structure, geometry.shape, geometry.pixel_size, dose=1000.0, random_state=rng)
    result = motifkit.analyze(sim.image, random_state=seed, verbose=False, **_taper(edge_taper))
    truth = sim.truth
    tolerance = 0.3 * nearest_neighbour_distance(truth.positions)
    height, width = sim.image.shape

    def inside(p, margin=3.0):  # a peak cut by the image edge cannot be localised
        return (p[:, 0] >= margin) & (p[:, 0] <= width - 1 - margin) & (p[:, 1] >= margin) & (p[:, 1] <= height - 1 - margin)

    visible = (truth.column_types != "V_Se2") & inside(truth.positions)
    every = np.vstack([result.positions, result.border_positions])
    columns = match_positions(every[inside(every)], truth.positions[visible], tolerance)
    kept = match_positions(result.positions, truth.positions, tolerance)
    context = truth.context_types[kept.reference_index]
    labels = result.labels[kept.detected_index]
    metal = labels[context == "Mo"]
    return {
        "recall": columns.recall, "precision": columns.precision, "rmse_px": columns.rmse,
        "ari": adjusted_rand_score(context, labels), "n_motifs": result.n_motifs,
        "metal_in_one_motif": np.bincount(metal).max() / len(metal),
    }


def _taper(edge_taper):
    return {} if edge_taper is None else {"edge_taper": edge_taper}


def real_wse2(seed: int, edge_taper: float | None = None):
    import motifkit
    from motifkit.evaluation import compare_with_reference

    sample = motifkit.data.wse2_ti()
    result = motifkit.analyze(sample.micrograph, random_state=seed, verbose=False, **_taper(edge_taper))
    return compare_with_reference(result, sample)


def fr_vs_umap(seed: int):
    from motifkit.layout import ForceRelaxedLayout
    from motifkit.layout._synthetic import make_imbalanced_mixture
    from motifkit.layout.baselines import UMAPLayout

    X, labels = make_imbalanced_mixture(5000, random_state=seed)
    scores = {}
    for name, estimator in [("FR", ForceRelaxedLayout(random_state=seed)),
                            ("UMAP (k=10, correlation)", UMAPLayout(n_neighbors=10, metric="correlation", random_state=seed))]:
        embedding = estimator.fit_transform(X)
        predicted = KMeans(6, n_init=10, random_state=0).fit_predict(embedding)
        small = labels == labels.max()
        majority = np.bincount(predicted[small]).argmax()
        scores[name] = (adjusted_rand_score(labels, predicted), float(np.mean(predicted[small] == majority)))
    return scores


def rotated_lattice_change(seed: int, edge_taper: float, angles=(17.0, 41.0, 90.0, 133.0), size: int = 33):
    """Worst relative change of the per-column-type mean rotation-invariant features when
    the simulated MoSe2 lattice is rotated (1000 e/A^2), over ``angles``."""
    import motifkit
    from motifkit.zernike import ZernikeFeatures

    def type_means(angle):
        sim = motifkit.data.mose2_with_vacancies(shape=(384, 384), vacancy_density=0.0, rotation=angle,
                                                 dose=1000.0, random_state=seed)
        positions, types = sim.truth.positions, sim.truth.column_types
        patch_set = motifkit.extract_patches(sim.image, positions, size, warn=False)
        features = ZernikeFeatures(10, edge_taper=edge_taper).fit_transform(patch_set.patches)
        kept_types = types[patch_set.kept]
        return {t: features[kept_types == t].mean(axis=0) for t in np.unique(kept_types)}

    reference = type_means(0.0)
    worst = 0.0
    for angle in angles:
        means = type_means(angle)
        worst = max(worst, *(np.linalg.norm(means[t] - reference[t]) / np.linalg.norm(reference[t]) for t in reference))
    return float(worst)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--edge-taper", type=float, default=None,
                        help="Zernike edge taper for the pipeline runs (default: analyze's default)")
    parser.add_argument("--skip-mixture", action="store_true", help="skip the FR vs UMAP mixture (taper-independent)")
    args = parser.parse_args(argv)
    from motifkit.zernike import DEFAULT_EDGE_TAPER

    taper = DEFAULT_EDGE_TAPER if args.edge_taper is None else args.edge_taper
    print(f"edge_taper = {taper}\n")
    warnings.simplefilter("ignore")
    for seed in args.seeds:
        print(f"## seed {seed}\n")
        s = synthetic_mose2(seed, args.edge_taper)
        print(f"- synthetic MoSe2: recall {s['recall']:.4f}, precision {s['precision']:.4f}, RMSE {s['rmse_px']:.3f} px; "
              f"{s['n_motifs']} motifs, ARI vs context types {s['ari']:.4f}; "
              f"defect-free Mo in one motif: {s['metal_in_one_motif']:.4f}")
        comparison = real_wse2(seed, args.edge_taper)
        print(f"- real WSe2:Ti: recall {comparison.match.recall:.4f}, precision {comparison.match.precision:.4f}, "
              f"macro-F1 {comparison.macro_f1:.4f}\n\n```\n{comparison.report()}\n```")
        if not args.skip_mixture:
            for name, (ari, recall) in fr_vs_umap(seed).items():
                print(f"- imbalanced mixture, {name}: ARI {ari:.4f}, small-cluster recall {recall:.3f}")
        hard, tapered = (rotated_lattice_change(seed, t) for t in (0.0, taper))
        print(f"- rotated MoSe2 lattices (17, 41, 90, 133 deg), per-type mean rotation-invariant features: "
              f"worst relative change {100 * hard:.2f} % with the hard disk edge, "
              f"{100 * tapered:.2f} % with edge_taper={taper}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
