"""The benchmarks: the whole-photo one's JSON (time split by stage, the guard's work), the guard on held-out faces;
rounds compared within rounds."""

import json
import sys
from pathlib import Path

import cv2

from benchmarks import rounds_summary
from conftest import face_photo, run_cli


def test_the_photo_benchmark_times_every_stage_and_counts_the_guards_work(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for person in (1, 2):
        photo, _ = face_photo(person=person)
        cv2.imwrite(str(photos / f"{person}.png"), cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    out = tmp_path / "photos.json"
    run_cli([sys.executable, "-m", "benchmarks.photos", f"--photos={photos}", f"--out={out}"])
    results = json.loads(out.read_text())
    assert results["photos"] == 2 and results["faces"] == 2
    assert 0 <= results["guard_first_try"] + results["guard_softened"] + results["fallbacks"] <= 2
    stages = results["stage_seconds"]
    assert stages["generation"] > 0 and stages["guard"] > 0 and stages["detection"] > 0
    assert abs(sum(stages.values()) - results["photo_seconds"]) < 1e-6


def test_the_guard_benchmark_accounts_for_every_held_out_face_once_per_model(tiny_run, tmp_path):
    _, workdir = tiny_run
    out = tmp_path / "guard.json"
    run_cli([sys.executable, "-m", "benchmarks.guard", f"--workdir={workdir}", "--faces=2", f"--out={out}"])
    results = json.loads(out.read_text())
    test_faces = len(json.loads((Path(workdir) / "split.json").read_text())["test"])
    assert results["faces"] == 2 <= test_faces and results["skipped"] == []
    row = results["models"]["shipped"]
    assert sum(row[name] for name in ("passed_first_try", "passed_after_retries", "passed_softened", "fell_back")) == 2
    assert row["seconds_per_face"] > 0


def test_variants_timed_in_rounds_are_compared_within_each_round():
    # The machine slows down by half in the second round: the ratio within rounds stays 2.
    rounds = [{"old": {"seconds_per_step": 2.0}, "new": {"seconds_per_step": 1.0}, "xla": {"error": "no kernel"}},
              {"old": {"seconds_per_step": 3.0}, "new": {"seconds_per_step": 1.5}, "xla": {"error": "no kernel"}},
              {"old": {"seconds_per_step": 2.2}, "new": {"seconds_per_step": 1.0}, "xla": {"error": "no kernel"}}]
    summary = rounds_summary(rounds)
    assert summary["new"]["speedup"] == 2.0 and summary["old"]["speedup"] == 1.0
    assert summary["new"]["seconds_per_step"] == 1.0 and (summary["new"]["min"], summary["new"]["max"]) == (1.0, 1.5)
    assert summary["old"]["rounds"] == [2.0, 3.0, 2.2] and summary["xla"] == {"error": "no kernel"}

