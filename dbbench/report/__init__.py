"""The migration decision report, from result files only (never a live database).

- ``data``: loading and normalising result files.
- ``stats``: pure statistics (medians, bootstrap intervals, ratios).
- ``verdict``: the mix, the labels and the decision.
- ``plots``: matplotlib figures, data in, path out.
- ``sections`` and ``build``: the Markdown; ``html``: the self-contained HTML page.
"""
