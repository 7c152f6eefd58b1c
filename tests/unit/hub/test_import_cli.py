"""`hub import`: a template written per kind, and a file checked through the same engine as the
gateway's (the services' stubs faked), exit 1 with the problems, nothing applied."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from openpyxl import load_workbook

from hub import apis, cli


def test_hub_import_template_writes_the_kinds_workbook(tmp_path):
    out = tmp_path / "skus.xlsx"
    args = cli.parser().parse_args(["import", "template", "skus", "-o", str(out)])
    args.func(args)
    assert load_workbook(out).sheetnames == ["skus", "notes"]
    with pytest.raises(SystemExit, match="unknown kind 'prices'"):
        args = cli.parser().parse_args(["import", "template", "prices"])
        args.func(args)


def test_hub_import_reports_each_problem_and_exits_1_without_applying(tmp_path, monkeypatch, capsys):
    from hubapi.common.v1 import imports_pb2
    calls: list[tuple[int, bool]] = []

    def import_suppliers(request, **kw):
        calls.append((len(request.rows), request.dry_run))
        return imports_pb2.ImportResult(dry_run=request.dry_run)
    monkeypatch.setattr(apis, "import_stubs", lambda actor: SimpleNamespace(
        procurement=SimpleNamespace(ImportSuppliers=import_suppliers)))
    f = tmp_path / "suppliers.csv"
    f.write_text("code,name\nSUP-1,Tea Co\nSUP-1,Again\n", encoding="utf-8")
    args = cli.parser().parse_args(["import", "suppliers", str(f), "--report", str(tmp_path / "r.xlsx")])
    with pytest.raises(SystemExit) as exit_:
        args.func(args)
    assert exit_.value.code == 1 and calls == [(0, False), (1, True)]  # replayed? and row 2 checked: no apply
    out = capsys.readouterr().out
    assert "row      3  code" in out and "duplicate_in_file" in out and "nothing imported" in out
    report = list(load_workbook(tmp_path / "r.xlsx")["suppliers"].iter_rows(values_only=True))
    assert report[2][-1].startswith("row 3 code: SUP-1 is already on row 2")
