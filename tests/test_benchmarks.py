"""The whole-photo benchmark: one command, a JSON with the photos' time split by stage and the guard's work."""

import json
import sys

import cv2

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
    assert 0 <= results["guard_first_try"] + results["fallbacks"] <= 2
    stages = results["stage_seconds"]
    assert stages["generation"] > 0 and stages["guard"] > 0 and stages["detection"] > 0
    assert abs(sum(stages.values()) - results["photo_seconds"]) < 1e-6
