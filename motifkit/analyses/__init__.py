"""The paper's analyses on top of the motif pipeline (Dan et al., Sci. Adv. 2022).

Each analysis takes a :class:`motifkit.MotifAnalysis` (or the arrays it holds), returns a
small result dataclass with the numbers, and has a matplotlib plotting helper used by
the figure notebooks:

- Fig. 3, dopants in WS2: :func:`dopant_analysis` -> :class:`DopantAnalysis`, :func:`plot_dopants`
- Fig. 4, polyoxometalate: :func:`pom_analysis` -> :class:`POMAnalysis`, :func:`plot_pom`
- Fig. 5, twisted bilayer: :func:`bilayer_analysis` -> :class:`BilayerAnalysis`, :func:`plot_bilayer`

Positions are ``(N, 2)`` float arrays of ``(x, y) = (column, row)`` in pixels.
"""

from .dopants import DopantAnalysis, MotifRoles, dopant_analysis, plot_dopants, read_motif_roles
from .polyoxometalate import POMAnalysis, find_pentagon_centres, plot_pom, pom_analysis
from .twisted_bilayer import BilayerAnalysis, bilayer_analysis, histogram_kl, plot_bilayer

__all__ = [
    "DopantAnalysis",
    "MotifRoles",
    "dopant_analysis",
    "read_motif_roles",
    "plot_dopants",
    "POMAnalysis",
    "pom_analysis",
    "find_pentagon_centres",
    "plot_pom",
    "BilayerAnalysis",
    "bilayer_analysis",
    "histogram_kl",
    "plot_bilayer",
]
