"""A report as text: the terminal table, Markdown and plotly figures.
"""

from pepland_hpo._lazy import lazy_exports

_EXPORTS = {
    "render_report": "_console",
    "ablation_markdown": "_markdown",
    "fmt_diff": "_markdown",
    "ablation_plot": "_plots",
    "write_plotly": "_plots",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
