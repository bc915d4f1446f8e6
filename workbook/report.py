"""Pages for instructors: each executed notebook as a standalone HTML page, and the run folder's index.html.

`python -m workbook run` writes them beside the executed copies. They open in any browser without a
kernel or a network (figures and teaching images are embedded), so a run can be presented or shared.
"""

from __future__ import annotations

import base64
import html
import logging
import mimetypes
import re
from pathlib import Path

IMAGE_LINK = re.compile(r"(!\[[^\]]*\]\()([^)\s]+)(\))")  # ![alt](target)
PAGE_FILES = ((".html", "page"), (".ipynb", "executed notebook"), (".metrics.json", "metrics"))
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.failed { color: #b00020; font-weight: bold; }
.note { background: #fff4d6; padding: 0.5rem 1rem; }
"""


def embed_markdown_images(notebook, folder: Path) -> None:
    """Replace markdown image links to local files (relative to `folder`) by data URIs, in place."""

    def inline(match: re.Match) -> str:
        target = folder / match[2]
        if ":" in match[2] or not target.is_file():  # data:, http(s): and missing files stay as they are
            return match[0]
        mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return f"{match[1]}data:{mime};base64,{base64.b64encode(target.read_bytes()).decode('ascii')}{match[3]}"

    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = IMAGE_LINK.sub(inline, cell.source)


def notebook_page(executed: Path, source_dir: Path) -> Path:
    """Write `executed` as `<name>.html` beside it; markdown links resolve from `source_dir` (the notebooks/ folder)."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook = nbformat.read(executed, as_version=4)
    embed_markdown_images(notebook, source_dir)
    resources = {"metadata": {"name": executed.stem, "path": str(source_dir)}}
    quiet = logging.getLogger("workbook.report")  # nbconvert notes each figure without alternative text
    quiet.setLevel(logging.ERROR)
    body, _ = HTMLExporter(embed_images=True, log=quiet).from_notebook_node(notebook, resources=resources)
    page = executed.with_suffix(".html")
    page.write_text(body, encoding="utf-8")
    return page


def _cell(value) -> str:
    return f"<td>{html.escape(str(value))}</td>"


def _table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _link(out: Path, name: str, text: str) -> str:
    return f'<a href="{html.escape(name)}">{html.escape(text)}</a>' if (out / name).is_file() else html.escape(text)


def _summary_row(out: Path, result) -> str:
    flat = ", ".join(f"{name}={value}" for name, value in result.flat().items())
    status = f'<td class="failed">{result.status}</td>' if result.error else _cell(result.status)
    notebook = _link(out, f"{result.notebook}.html", result.notebook)
    return f"<tr><td>{notebook}</td>{status}{_cell(f'{result.seconds:.1f}')}{_cell(flat or '-')}</tr>"


def _section(out: Path, result) -> str:
    """One notebook's parameters, metrics (a sweep's configurations as a table) and files."""
    parts = [f'<h2 id="{result.notebook}">{html.escape(result.notebook)}</h2>']
    links = [_link(out, f"{result.notebook}{suffix}", text) for suffix, text in PAGE_FILES]
    parts.append("<p>" + " · ".join(links) + "</p>")
    if result.error:
        parts.append(f'<pre class="failed">{html.escape(result.error)}</pre>')
    shown = ", ".join(f"{name} = {value!r}" for name, value in result.parameters.items())
    parts.append(f"<p>Parameters: <code>{html.escape(shown or 'as stored')}</code></p>")
    flat = [[name, value] for name, value in result.flat().items()]
    if flat:
        parts.append(_table(["metric", "value"], flat))
    nested = result.nested()
    if nested:
        columns = list(dict.fromkeys(key for row in nested.values() for key in row))
        rows = [[name, *(row.get(column, "") for column in columns)] for name, row in nested.items()]
        parts.append(_table(["configuration", *columns], rows))
    return "\n".join(parts)


def random_note(results: list) -> str:
    """What a run with random weights set differently from the notebooks (and only that), and what its numbers mean."""
    changed = {}
    for result in results:
        changed.update(result.parameters)
    settings = ", ".join(f"{name} = {value!r}" for name, value in changed.items())
    kind = "Random weights" if "WEIGHTS" in changed else "Smoke profile"
    return (
        f"{kind}: run with {settings}, every other setting as in the notebooks. "
        "These numbers show that the code runs, not results."
    )


def index_page(out: Path, results: list, profile: str, device: str = "") -> Path:
    """Write `out/index.html`: the device, the summary table, each notebook's metrics, and links to the pages."""
    random = profile == "smoke" or any(result.parameters.get("WEIGHTS", "imagenet") is None for result in results)
    rows = "".join(_summary_row(out, result) for result in results)
    header = "<tr><th>notebook</th><th>status</th><th>seconds</th><th>metrics</th></tr>"
    page = out / "index.html"
    page.write_text(
        "\n".join(
            [
                '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">',
                f"<title>Workbook run {html.escape(out.name)}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
                f"<h1>Workbook run: {html.escape(out.name)}</h1>",
                f"<p>Profile <b>{html.escape(profile)}</b>; each notebook's page opens without a kernel.</p>",
                f"<p>Device: {html.escape(device)}</p>" if device else "",
                f'<p class="note">{html.escape(random_note(results))}</p>' if random else "",
                f"<table>{header}{rows}</table>",
                *(_section(out, result) for result in results),
                "</body>\n</html>\n",
            ]
        ),
        encoding="utf-8",
    )
    return page


def write(out: Path, results: list, profile: str, source_dir: Path, device: str = "") -> Path:
    """A page per executed notebook and the index; a page that cannot be written is reported, not fatal."""
    for result in results:
        executed = out / f"{result.notebook}.ipynb"
        if executed.is_file():
            try:
                notebook_page(executed, source_dir)
            except Exception as error:  # nbconvert on an unusual output: the run's results still count
                print(f"Note: no page for {result.notebook} ({type(error).__name__}: {error})")
    return index_page(out, results, profile, device)
