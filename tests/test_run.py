from ppgan_tf.training import run


def test_sample_faces_cover_many_people():
    identities = ["a"] * 5 + ["b"] * 5 + ["c"] * 2
    chosen = run.sample_indices(identities, 8)
    assert len(chosen) == 8 and len(set(chosen)) == 8
    assert [identities[i] for i in chosen[:3]] == ["a", "b", "c"]
    assert len(run.sample_indices(["a", "b"], 8)) == 2
