"""The run report: one self-contained HTML page (plus PNG graphs and Prefect artifact text) from a run's outputs.

Modules, one concern each: `formatting` (the filters templates print numbers and text with),
`environment` (the Jinja environment), `assets` (where templates and the static CSS/JS live),
`map_data` (the chunk map as compact arrays), `documents` (the chunk -> document roll-up), `changes`
(what changed since the previous run), `render` (`render_report`), `drawing` (the PNG graphs) and
`artifacts` (the Prefect artifacts' Markdown and table). Plain functions only: no Prefect, no I/O
beyond reading our own templates and static files.

Escaping guarantees of the HTML report:

* Every template is autoescaped (``select_autoescape`` with ``default=True``), so every value that came
  from a document (headers, summaries, passages, filenames, keyphrases, object keys, details) is
  HTML-escaped wherever it is printed, in text and in quoted attributes alike.
* Data for the script reaches it only through ``|tojson`` inside a ``<script type="application/json">``
  block; ``tojson`` escapes ``<``, ``>``, ``&`` and ``'`` so ``</script>`` cannot close the block.
* The only ``Markup`` we create is our own static CSS and script (``reports/static/``, read from files,
  never data) and the script's CSP hash. A Content-Security-Policy pins scripts to that exact text by
  SHA-256 and forbids all network loads, so even a missed escape could not run an injected ``<script>``
  or ``onerror=`` handler.
* No URL from the data is ever put in an ``href`` or ``src``.
"""

from tasks.core.reporting.changes import build_diff, run_changes
from tasks.core.reporting.documents import theme_documents
from tasks.core.reporting.formatting import clip, dom_id
from tasks.core.reporting.map_data import build_map_data, chunk_indices, map_rows
from tasks.core.reporting.render import render_report, sort_themes

__all__ = [
    "build_diff",
    "build_map_data",
    "chunk_indices",
    "clip",
    "dom_id",
    "map_rows",
    "render_report",
    "run_changes",
    "sort_themes",
    "theme_documents",
]
