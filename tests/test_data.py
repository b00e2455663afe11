import csv
import os

import cv2
import numpy as np
import pytest

from conftest import tiny_config, write_dataset
from ppgan_tf.data import images, manifest, pipeline, split


def test_manifest_reads_identity_and_attributes(tmp_path):
    path = write_dataset(str(tmp_path), people=3, per_person=2, extra_columns={"gender": lambda p: "fm"[p % 2]})
    records = manifest.load_records(path)
    assert len(records) == 6
    assert records[0].identity == "p0" and records[0].attribute("gender") == "f"
    assert os.path.isfile(records[0].path) and records[0].key == "images/p0/0.png"


def test_folder_tree_is_one_person_per_folder(tmp_path):
    write_dataset(str(tmp_path), people=3, per_person=2)
    records = manifest.load_records(str(tmp_path / "images"))
    assert [r.identity for r in records] == ["p0", "p0", "p1", "p1", "p2", "p2"]


def test_builtin_orl_ships_with_the_package():
    records = manifest.load_records("builtin:orl")
    assert len(records) == 400 and len({r.identity for r in records}) == 40
    with pytest.raises(ValueError, match="No built-in dataset"):
        manifest.load_records("builtin:nothing")


def test_split_is_deterministic_identity_disjoint_and_90_10():
    records = [manifest.FaceRecord(f"{p}/{i}.png", "", f"id{p}") for p in range(50) for i in range(4)]
    train, test = split.split_records(records, test_fraction=0.1, seed=3)
    again_train, again_test = split.split_records(list(reversed(records)), test_fraction=0.1, seed=3)
    assert {r.key for r in test} == {r.key for r in again_test}
    assert {r.identity for r in train}.isdisjoint({r.identity for r in test})
    assert len({r.identity for r in test}) == 5
    other_seed = split.split_records(records, test_fraction=0.1, seed=4)[1]
    assert {r.identity for r in other_seed} != {r.identity for r in test}


def test_stratified_split_holds_out_each_group():
    records = [
        manifest.FaceRecord(f"{p}.png", "", f"id{p}", (("gender", "m" if p < 40 else "f"),)) for p in range(60)
    ]
    _, test = split.split_records(records, test_fraction=0.1, stratify_by="gender", seed=0)
    genders = [r.attribute("gender") for r in test]
    assert genders.count("m") == 4 and genders.count("f") == 2


def test_split_by_image_keeps_people_on_both_sides():
    records = [manifest.FaceRecord(f"{p}/{i}.png", "", f"id{p}") for p in range(5) for i in range(20)]
    train, test = split.split_records(records, test_fraction=0.1, unit="image")
    assert len(test) == 10 and {r.identity for r in test} & {r.identity for r in train}


def test_run_split_is_saved_and_reused(tmp_path, dataset_manifest):
    config = tiny_config(data=dataset_manifest)
    records = manifest.load_records(dataset_manifest)
    first = split.split_for_run(records, config, str(tmp_path / "run"))
    assert os.path.isfile(tmp_path / "run" / "split.json")
    second = split.split_for_run(records, config, str(tmp_path / "run"))
    assert [r.key for r in first[1]] == [r.key for r in second[1]]
    with pytest.raises(ValueError, match="was made with"):
        split.split_for_run(records, config.replace(seed=9), str(tmp_path / "run"))


def test_a_corrupt_image_is_skipped_and_counted(tmp_path):
    path = write_dataset(str(tmp_path), people=2, per_person=3)
    root = os.path.dirname(path)
    with open(os.path.join(root, "images/p0/1.png"), "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n not really a png")
    open(os.path.join(root, "images/p1/2.png"), "wb").close()
    with open(path, "a", newline="") as f:
        csv.writer(f).writerow(["images/p1/missing.png", "p1"])
    faces = images.load_faces(manifest.load_records(path), 32, 1)
    assert faces.images.shape == (4, 32, 32, 1) and faces.images.dtype == np.uint8
    problems = dict(faces.skipped)
    assert set(problems) == {"images/p0/1.png", "images/p1/2.png", "images/p1/missing.png"}
    assert problems["images/p1/2.png"] == "empty file"
    assert "not a decodable image" in problems["images/p0/1.png"]
    assert "cannot read" in problems["images/p1/missing.png"]
    assert sum(faces.skip_summary().values()) == 3


@pytest.mark.parametrize("channels", [1, 3])
def test_decoding_converts_any_layout_to_the_asked_channels(tmp_path, channels):
    colour = np.zeros((40, 60, 3), np.uint8)
    colour[..., 2] = 200  # red in OpenCV's BGR
    cases = {
        "grey.png": colour[..., 0],
        "bgr.jpg": colour,
        "bgra.png": np.dstack([colour, np.full((40, 60), 255, np.uint8)]),
        "deep.png": (colour.astype(np.uint16) * 257),
        "grey.pgm": colour[..., 1],
    }
    for name, array in cases.items():
        path = str(tmp_path / name)
        cv2.imwrite(path, array)
        image = images.decode_image(path, channels)
        assert image.shape == (40, 60, channels) and image.dtype == np.uint8, name
    if channels == 3:
        assert images.decode_image(str(tmp_path / "bgr.jpg"), 3)[0, 0, 0] > 150  # RGB order


def test_a_tiny_image_is_refused_with_its_size(tmp_path):
    path = str(tmp_path / "dot.png")
    cv2.imwrite(path, np.zeros((1, 1), np.uint8))
    with pytest.raises(images.ImageError, match=r"dot.png: too small \(1x1"):
        images.decode_image(path, 1)


def test_center_crop_resize():
    image = np.arange(112 * 92, dtype=np.float64).reshape(112, 92, 1).astype(np.uint8)
    assert images.center_crop_resize(image, 64, 1.0).shape == (64, 64, 1)
    assert images.center_crop_resize(image, 16, 0.5).shape == (16, 16, 1)


def _take(dataset, batches):
    return [{k: v.numpy() for k, v in b.items()} for b in dataset.take(batches)]


def test_gan_dataset_is_deterministic_and_resumable():
    faces = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 1), dtype=np.uint8)
    full = _take(pipeline.gan_dataset(faces, 4, seed=1), 6)
    resumed = _take(pipeline.gan_dataset(faces, 4, seed=1, start_step=3), 3)
    for a, b in zip(full[3:], resumed):
        np.testing.assert_array_equal(a["images"], b["images"])
        np.testing.assert_array_equal(a["noise_seeds"], b["noise_seeds"])
    assert full[0]["images"].dtype == np.float32
    assert full[0]["images"].min() >= -1.0 and full[0]["images"].max() <= 1.0
    # Every face once per epoch (10 faces; the first 2 epochs fill 5 batches).
    seeds = np.concatenate([b["noise_seeds"] for b in full])
    assert len(set(seeds.tolist())) == len(seeds)


def test_gan_dataset_visits_each_face_as_often_as_repeated_and_resumes():
    faces = np.random.default_rng(0).integers(0, 256, (5, 8, 8, 1), dtype=np.uint8)
    repeats = [1, 3, 1, 2, 1]  # an epoch of 8 visits: 2 batches of 4
    batches = _take(pipeline.gan_dataset(faces, 4, seed=2, repeats=repeats), 4)
    for epoch in (batches[:2], batches[2:]):
        visited = np.concatenate([b["face_indices"] for b in epoch])
        np.testing.assert_array_equal(np.bincount(visited, minlength=5), repeats)
    seeds = np.concatenate([b["noise_seeds"] for b in batches])
    assert len(set(seeds.tolist())) == len(seeds)  # a repeated face gets new noise at each visit
    resumed = _take(pipeline.gan_dataset(faces, 4, seed=2, start_step=3, repeats=repeats), 1)[0]
    np.testing.assert_array_equal(resumed["face_indices"], batches[3]["face_indices"])
    # Repeating each face once is the dataset without repeats, batch for batch.
    once = _take(pipeline.gan_dataset(faces, 4, seed=2, repeats=[1] * 5), 3)
    for a, b in zip(once, _take(pipeline.gan_dataset(faces, 4, seed=2), 3)):
        np.testing.assert_array_equal(a["face_indices"], b["face_indices"])
    for bad in ([1, 1, 0, 1, 1], [2, 2]):
        with pytest.raises(ValueError, match="repeats"):
            pipeline.gan_dataset(faces, 4, repeats=bad)


def test_gan_batches_say_which_face_each_image_is_and_whether_it_was_mirrored():
    faces = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 1), dtype=np.uint8)
    batches = _take(pipeline.gan_dataset(faces, 4, seed=3), 5)
    flips = []
    for batch in batches:
        for image, index, flipped in zip(batch["images"], batch["face_indices"], batch["flipped"]):
            source = pipeline.to_model_range(faces[index]).numpy()
            np.testing.assert_array_equal(image, source[:, ::-1] if flipped else source)
            flips.append(bool(flipped))
    assert 0 < sum(flips) < len(flips)  # both kinds drawn
    unflipped = _take(pipeline.gan_dataset(faces, 4, seed=3, flip=False), 1)[0]
    assert not unflipped["flipped"].any()


def test_pairs_are_half_positive_with_correct_labels():
    identities = [f"p{i // 3}" for i in range(30)]
    first, second, same = pipeline.sample_pairs(identities, 200, np.random.default_rng(0))
    assert same.sum() == 100
    for a, b, s in zip(first, second, same):
        assert (identities[a] == identities[b]) == bool(s)
        assert a != b
    batch = next(pipeline.pair_batches(np.zeros((30, 8, 8, 1), np.uint8), identities, 8))
    assert batch[0].shape == (8, 8, 8, 1) and list(batch[2]) == [1] * 4 + [0] * 4


def test_pairs_need_two_people():
    with pytest.raises(ValueError, match="at least 2 people"):
        pipeline.evaluation_pairs(["a", "a", "a"], 10)


def test_several_sources_are_one_dataset_split_as_each_alone(tmp_path):
    named = write_dataset(str(tmp_path / "people"), people=10, per_person=2)
    anonymous = write_dataset(str(tmp_path / "photos"), people=6, per_person=1)
    with open(anonymous) as f:  # drop the identity column: one photo per person, as UTKFace
        rows = [line.split(",")[0] for line in f.read().splitlines()]
    with open(anonymous, "w") as f:
        f.write("\n".join(rows) + "\n")
    records = manifest.load_records(f"{named},{anonymous}")
    assert len(records) == 26
    assert {r.attribute("dataset") for r in records} == {"people", "photos"}
    assert len({r.key for r in records}) == 26 and records[0].key.startswith("people/")
    photos = [r for r in records if r.attribute("dataset") == "photos"]
    assert all(r.identity == r.key for r in photos)
    # Split per source: each source's test people are those of a run on that source alone.
    _, test = split.split_records(records, 0.2, "identity", "dataset", seed=0)
    _, alone = split.split_records(manifest.load_records(named), 0.2, "identity", "", seed=0)
    assert sorted({r.identity for r in test if r.attribute("dataset") == "people"}) == sorted({r.identity for r in alone})
    with pytest.raises(ValueError, match="same folder name"):
        manifest.load_records(f"{named},{named}")


def _png_header(width, height):
    """A PNG that declares a size in its header and holds no pixels: a decompression bomb's shape."""
    import struct
    import zlib

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


@pytest.mark.parametrize("width,height", [(14_000, 13_000), (20_000, 20_000)])
def test_a_huge_image_is_refused_before_decoding(width, height):
    # 182 MP passes the project's 200 MP limit check only if Pillow's own bomb check is caught too.
    with pytest.raises(images.ImageError, match="too large"):
        images.decode_image_bytes(_png_header(width, height), 3, "bomb.png")
