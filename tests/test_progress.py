"""Progress bars: a widget in JupyterLab, one line under the run command or in a log, tqdm's bar in a terminal."""

from __future__ import annotations

import sys

from workbook import progress, session


def test_outside_a_terminal_a_bar_prints_one_finished_line_on_stdout(capsys, monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert progress.kind() == "line"
    assert list(progress.bar(range(3), desc="vectors", unit="batch")) == [0, 1, 2]
    with progress.bar(total=10, desc="dataset") as bar:
        bar.update(10)
    shown = capsys.readouterr()
    assert shown.err == ""
    lines = shown.out.splitlines()
    assert len(lines) == 2 and "\r" not in shown.out
    assert lines[0].startswith("vectors: 100%") and "3/3" in lines[0]
    assert lines[1].startswith("dataset: 100%") and "10/10" in lines[1]


def test_the_kind_of_bar_follows_where_the_code_runs(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert progress.kind() == "terminal"
    monkeypatch.setattr(progress, "in_kernel", lambda: True)
    monkeypatch.delenv(session.METRICS_ENV, raising=False)
    assert progress.kind() == "widget"  # JupyterLab, with ipywidgets installed
    monkeypatch.setenv(session.METRICS_ENV, "/tmp/05.metrics.json")
    assert progress.kind() == "line"  # a kernel of `python -m workbook run`: no widget in executed copies
