"""Run plans and the resumable store."""

from __future__ import annotations

import json

import pytest

from medue.evaluate.runs import ResultStore, RunSpec, plan_runs
from medue.evaluate.tables import markdown, summarise


def test_plan_puts_the_undefended_reference_first():
    specs = plan_runs(["unet"], ["median", "none"], [0, 1], epochs=2)
    assert [s.countermeasure for s in specs[:4]] == ["none"] * 4
    assert {s.source for s in specs} == {"clean", "protected"}
    assert len(specs) == 8 and len({s.key for s in specs}) == 8


def test_runs_stored_before_the_release_only_attacker_are_trained_again(tmp_path):
    spec = RunSpec("protected", "unet", "none", 0, 2)
    old_key = f"{spec.key}|data=aaaa"  # format 1: no validation split, no release-only score
    (tmp_path / "runs.json").write_text(json.dumps({old_key: {"best_dsc": 0.5}}))
    assert ResultStore(tmp_path / "runs.json").get(spec, "aaaa") is None


def test_store_survives_a_restart_and_keys_on_the_data(tmp_path):
    spec = RunSpec("protected", "unet", "none", 0, 2)
    store = ResultStore(tmp_path / "runs.json")
    store.put(spec, "aaaa", {"best_dsc": 0.5})
    reopened = ResultStore(tmp_path / "runs.json")
    assert reopened.get(spec, "aaaa")["best_dsc"] == 0.5
    assert reopened.get(spec, "bbbb") is None  # another release: not reused
    assert json.loads((tmp_path / "runs.json").read_text())


def test_summary_rows_pair_clean_and_protected():
    def record(source, seed, best):
        spec = RunSpec(source, "unet", "none", seed, 2).as_dict()
        return {"spec": spec, "best_dsc": best, "final_dsc": best - 0.1, "dsc_per_epoch": [best],
                "release_only_dsc": best - 0.05}  # fmt: skip

    rows = summarise([record("clean", 0, 0.8), record("clean", 1, 0.9), record("protected", 0, 0.2),
                      record("protected", 1, 0.2)])  # fmt: skip
    assert len(rows) == 1
    row = rows[0]
    assert row.clean_best == pytest.approx((0.85, 0.05))
    assert round(row.ratio, 3) == round(0.2 / 0.85, 3)
    assert row.ratio_release_only == pytest.approx(0.15 / 0.8)
    assert "| unet | none | 2 | 0.800 ± 0.050 | 0.150 ± 0.000 | 19% |" in markdown(rows)
    assert "| 0.850 ± 0.050 | 0.200 ± 0.000 | 24% |" in markdown(rows)
