import pytest

from ppgan_tf import config as run_config
from ppgan_tf.data.records import FaceRecord
from ppgan_tf.training import run


def test_sample_faces_cover_many_people():
    identities = ["a"] * 5 + ["b"] * 5 + ["c"] * 2
    chosen = run.sample_indices(identities, 8)
    assert len(chosen) == 8 and len(set(chosen)) == 8
    assert [identities[i] for i in chosen[:3]] == ["a", "b", "c"]
    assert len(run.sample_indices(["a", "b"], 8)) == 2


def test_comparison_grid_stacks_each_set_under_the_originals():
    import numpy as np

    from ppgan_tf.training import summaries

    originals = np.full((3, 4, 4, 1), 10, np.uint8)
    first, second = originals + 1, originals + 2
    grid = summaries.comparison_grid(originals, first, second, columns=2)
    assert grid.shape == (2 * 3 * 6, 2 * 6, 1)  # 2 row groups of 3 rows, 2 columns, 2 px gutters
    assert grid[0, 0, 0] == 10 and grid[6, 0, 0] == 11 and grid[12, 0, 0] == 12
    assert grid[18, 0, 0] == 10  # the third face starts the second row group


def test_face_repeats_follow_each_faces_source():
    records = [FaceRecord(f"{name}/{i}", "", attributes=(("dataset", name),))
               for i, name in enumerate(["lfw", "utkface", "lfw", "celeba", "utkface"])]
    config = run_config.get_config().replace(data="a/lfw/m.csv,b/utkface/m.csv,c/celeba/m.csv",
                                             data_repeats="utkface:3")
    assert run.face_repeats(records, config) == [1, 3, 1, 1, 3]
    assert run.face_repeats(records, config.replace(data_repeats="")) is None
    with pytest.raises(ValueError, match="no training faces from \\['utk'\\]"):
        run.face_repeats(records, config.replace(data_repeats="utk:3"))
    # One source: its records carry no dataset attribute; the source is named by its folder.
    single = [FaceRecord("x.png", "")]
    assert run.face_repeats(single, config.replace(data="/d/orl_faces", data_repeats="orl_faces:2")) == [2]
