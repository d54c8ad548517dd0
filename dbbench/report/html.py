"""The report's Markdown as one self-contained HTML page: plots embedded, nothing from the data run as markup."""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping
from typing import Any

from dbbench.markdown import folds

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top;overflow-wrap:break-word}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;height:auto;border:1px solid #eee}
code{background:#f5f5f5;padding:0 .2em;border-radius:3px}
blockquote{border-left:4px solid #336791;margin:1em 0;padding:.4em 1em;background:#f6f8fb;font-size:1.1em}
details{margin:.6em 0 1.2em}summary{cursor:pointer;color:#336791}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
"""


# Anchors are the only HTML the report writes itself; the renderer escapes all HTML, then these come back.
_ANCHOR = re.compile(r"(?:<p>)?&lt;a id=&quot;([A-Za-z0-9_-]+)&quot;&gt;&lt;/a&gt;(?:</p>)?")


def to_html(markdown: str, figures: Mapping[str, bytes], *, title: str) -> str:
    """Render the Markdown as one self-contained page, with no markup of its own from the data.

    Raw HTML in the Markdown is escaped (result files are shared between people: a ``<script>`` in a target name
    stays text). An image is embedded only when it is one of ``figures`` (``report_files/NAME.png`` -> PNG bytes,
    drawn for this report); any other image, a path on this machine included, stays its alt text and no file is
    read. markdown-it drops ``javascript:``-style links.
    """
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def image(renderer: Any, tokens: Any, idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        data = figures.get(token.attrGet("src") or "")
        if data is None:
            return html.escape(token.content)
        token.attrSet("src", "data:image/png;base64," + base64.b64encode(data).decode("ascii"))
        return str(renderer.image(tokens, idx, options, env))

    md.add_render_rule("image", image)
    parts: list[str] = []
    for before, summary, folded in folds(markdown):  # folded blocks become closed <details> elements
        parts.append(md.render(before))
        if summary:
            parts.append(f"<details><summary>{md.renderInline(summary)}</summary>\n{md.render(folded)}</details>\n")
    body = _ANCHOR.sub(r'<a id="\1"></a>', "".join(parts))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head>\n<body>\n{body}</body></html>\n"
    )
