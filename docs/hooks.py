"""MkDocs hook: ``<!-- results:NAME -->`` in a page becomes the README's table of that name,
rendered from benchmarks/results/*.json by scripts/readme_tables.py (no number is typed by hand)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_PLACEHOLDER = re.compile(r"<!-- results:([a-z_]+) -->")


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ANN001, ARG001
    if "<!-- results:" not in markdown:
        return markdown
    sys.path.insert(0, str(ROOT / "scripts"))
    import readme_tables

    results = readme_tables.load_results(ROOT / "benchmarks" / "results")
    scripts = readme_tables.benchmark_scripts(ROOT / "benchmarks")
    return _PLACEHOLDER.sub(lambda m: readme_tables.render_section(m.group(1), results, scripts), markdown)
