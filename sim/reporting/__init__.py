"""Presentation helpers shared by the analysis, comparison, calibration and power reports.

Statistics modules compute tables (DataFrames, numbers); the code that turns them into files or
console output uses only this small API:

Markdown (:mod:`sim.reporting.markdown`)
    ``md_table(header, rows) -> str``: a GitHub-flavoured table (cells made strings, ``|`` -> ``/``);
    ``fmt_num(x, nd) -> str``: fixed decimals, "–" for missing/non-finite;
    ``fmt_p(p) -> str``: "< 0.001" or three decimals;
    ``join_blocks(blocks) -> str``: markdown blocks joined, at most one blank line between them.

Figures (:mod:`sim.reporting.figures`)
    ``pyplot()``: matplotlib's pyplot on the non-interactive Agg backend;
    ``save_figure(fig, path, dpi=100) -> str``: write a PNG without software/time metadata (the same
    bytes on every run), close the figure, return the file name;
    ``figure_dir(out_dir) -> Path``: ``out_dir/figures``, created.

Console (:mod:`sim.reporting.console`)
    ``console(stderr=False)``: a rich Console; ``rich_table(title, columns, rows, left=())``: a rich
    Table (columns in ``left`` left-aligned, the rest right-aligned).

CSV (:mod:`sim.reporting.tables`)
    ``write_csv(df, path, float_format="%.6g")``: no index, ``\\n`` line ends (byte-stable);
    ``csv_text(df, float_format, header=True) -> str``: the same text as a string, formatted column
    by column (faster for long tables of numbers).
"""

from __future__ import annotations

from .console import console, rich_table
from .figures import figure_dir, pyplot, save_figure
from .markdown import fmt_num, fmt_p, join_blocks, md_table
from .tables import csv_text, write_csv

__all__ = [
    "console",
    "csv_text",
    "figure_dir",
    "fmt_num",
    "fmt_p",
    "join_blocks",
    "md_table",
    "pyplot",
    "rich_table",
    "save_figure",
    "write_csv",
]
