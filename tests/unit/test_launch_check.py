"""The launch check's own logic (scripts/launch_check.py): what counts as a failure, the widget check, the
stand-in for Colab, and when --if-changed skips. The check itself runs with `make launch-check`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys

import nbformat
import pytest

from booktoc import ROOT, repository_url, setup_cell

spec = importlib.util.spec_from_file_location("launch_check", ROOT / "scripts" / "launch_check.py")
launch_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(launch_check)


def chapter(**overrides):
    return {"seconds": 1.0, "peak_mb": 500, "error": None, "pins_moved": [], **overrides}


def test_a_clean_run_has_no_failures():
    results = {"colab": {"chapters": {"a": chapter(views=2, views_missing_from_state=0)}},
               "binder": {"chapters": {"a": chapter()}}}
    assert launch_check.failures(results) == []


@pytest.mark.parametrize("where, result, expected", [
    ("colab", chapter(error="ModuleNotFoundError: x"), "colab: a raised ModuleNotFoundError: x"),
    ("binder", chapter(pins_moved=["n: got 2, pinned 1 ± 0"]), "binder: a: pin moved: n: got 2, pinned 1 ± 0"),
    ("colab", chapter(views=3, views_missing_from_state=1), "colab: a: 1 widget views missing from the saved state"),
    ("binder", chapter(peak_mb=2049), "binder: a peaked at 2049 MB, over Binder's 2048 MB"),
])
def test_each_kind_of_failure_is_named(where, result, expected):
    assert launch_check.failures({where: {"chapters": {"a": result}}}) == [expected]


def test_memory_over_2_gb_fails_only_on_binder():
    assert launch_check.failures({"colab": {"chapters": {"a": chapter(peak_mb=4000)}}}) == []


def test_widget_check_counts_views_missing_from_the_saved_state():
    nb = nbformat.v4.new_notebook()
    view = lambda model_id: nbformat.v4.new_output(  # noqa: E731
        "display_data", data={launch_check.WIDGET_VIEW: {"model_id": model_id}})
    nb.cells = [nbformat.v4.new_code_cell(outputs=[view("m1"), view("m2")])]
    nb.metadata["widgets"] = {launch_check.WIDGET_STATE: {"state": {"m1": {}}}}
    assert launch_check.widget_check(nb) == {"views": 2, "views_missing_from_state": 1}


def test_the_stand_in_for_colab_makes_the_set_up_cell_take_its_colab_branch():
    code = launch_check.FAKE_COLAB + (
        "assert 'google.colab' in sys.modules\n"
        "from google.colab import output\n"
        "output.enable_custom_widget_manager()\n"
        "assert output._widgets._installed_url\n")  # anywidget reads it in Colab
    subprocess.run([sys.executable, "-c", code], check=True)


def test_the_set_up_cell_names_the_repository_url_the_check_replaces():
    cell = setup_cell()
    assert repository_url() in cell and "{repository_url}" not in cell
    assert "/content/qkv" in cell  # the check replaces /content by a fresh folder per chapter


def test_inputs_hash_covers_the_set_up_cell(tmp_path, monkeypatch):
    for name in launch_check.INPUTS:
        src = ROOT / name
        dst = tmp_path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
        else:
            dst.write_bytes(src.read_bytes())
    monkeypatch.setattr(launch_check, "ROOT", tmp_path)
    before = launch_check.inputs_hash()
    assert before == launch_check.inputs_hash()
    (tmp_path / "book" / "_templates" / "setup_cell.py").write_text("# changed\n")
    assert launch_check.inputs_hash() != before


def test_inputs_hash_ignores_pyproject_tables_pip_never_reads(tmp_path, monkeypatch):
    """Linter and test-runner settings do not change an install; the project's dependencies and packaging do."""
    for name in launch_check.INPUTS:
        src, dst = ROOT / name, tmp_path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    monkeypatch.setattr(launch_check, "ROOT", tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    text = pyproject.read_text()
    before = launch_check.inputs_hash()
    for tool in launch_check.DEV_TOOLS:
        pyproject.write_text(text + f"\n[tool.{tool}.extra]\nchanged = true\n")
        assert launch_check.inputs_hash() == before, tool
    pyproject.write_text(text.replace("[project]\n", "[project]\nkeywords = ['changed']\n", 1))
    assert launch_check.inputs_hash() != before
    pyproject.write_text(text.replace('qkv = ["palette.json", ', 'qkv = ["data/*.txt", "palette.json", ', 1))
    assert pyproject.read_text() != text  # the package-data line is still spelled so
    assert launch_check.inputs_hash() != before


def pages():
    return launch_check.chapter_notebooks()


def passing_record(hashes):
    return {"date": "2026-12-02", "inputs_hash": launch_check.inputs_hash(), "passed": True,
            "notebook_hashes": hashes,
            **{where: {"python": "3", "chapters": {stem: chapter() for stem in hashes}}
               for where in ("colab", "binder")}}


def test_if_changed_skips_when_the_last_passing_run_had_the_same_inputs_and_pages(tmp_path, monkeypatch, capsys):
    results = tmp_path / "launch.json"
    monkeypatch.setattr(launch_check, "RESULTS", results)
    results.write_text(json.dumps(passing_record(launch_check.notebook_hashes(pages()))))
    assert launch_check.main(["--if-changed"]) == 0
    assert "not run" in capsys.readouterr().out


def test_if_changed_runs_only_the_pages_new_or_changed_since_the_last_passing_run(tmp_path, monkeypatch):
    """A page added to _toc.yml (here: missing from the record) or edited (another hash) runs; the rest are kept."""
    hashes = launch_check.notebook_hashes(pages())
    new, edited, *same = list(hashes)
    record = passing_record({**{k: hashes[k] for k in same}, edited: "0" * 16, "dropped_from_toc": "1" * 16})
    results = tmp_path / "launch.json"
    results.write_text(json.dumps(record))
    monkeypatch.setattr(launch_check, "RESULTS", results)
    monkeypatch.setattr(launch_check, "run", lambda cmd, **kw: "abc1234\n" if "rev-parse" in cmd else "")
    ran = {}

    def fake(where):
        def path(tmp, clone, chapters):
            ran[where] = [p.stem for p in chapters]
            return {"python": "3", "chapters": {p.stem: chapter(seconds=2.0) for p in chapters}}
        return path

    monkeypatch.setattr(launch_check, "colab", fake("colab"))
    monkeypatch.setattr(launch_check, "binder", fake("binder"))
    assert launch_check.main(["--if-changed"]) == 0
    assert ran == {"colab": [new, edited], "binder": [new, edited]}
    written = json.loads(results.read_text())
    assert written["passed"] and written["notebook_hashes"] == hashes
    for where in ("colab", "binder"):
        assert set(written[where]["chapters"]) == set(hashes)
        assert written[where]["chapters"][new]["seconds"] == 2.0  # this run's result
        assert written[where]["chapters"][same[0]]["seconds"] == 1.0  # kept from the last passing run
        assert written[where]["chapters"][new]["commit"] == "abc1234"
        assert "commit" not in written[where]["chapters"][same[0]]  # ran at an earlier commit, not this one


def test_if_changed_runs_every_page_when_the_inputs_changed(tmp_path, monkeypatch):
    record = {**passing_record(launch_check.notebook_hashes(pages())), "inputs_hash": "changed"}
    results = tmp_path / "launch.json"
    results.write_text(json.dumps(record))
    monkeypatch.setattr(launch_check, "RESULTS", results)
    monkeypatch.setattr(launch_check, "run", lambda cmd, **kw: "abc1234\n" if "rev-parse" in cmd else "")
    ran = []
    monkeypatch.setattr(launch_check, "colab", lambda tmp, clone, chapters: ran.append(len(chapters)) or
                        {"python": "3", "chapters": {p.stem: chapter(error="boom") for p in chapters}})
    monkeypatch.setattr(launch_check, "binder", lambda tmp, clone, chapters: {"python": "3", "chapters": {}})
    assert launch_check.main(["--if-changed"]) == 1
    assert ran == [len(pages())]
    assert json.loads(results.read_text())["passed"] is False
