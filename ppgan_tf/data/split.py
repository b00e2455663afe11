"""A deterministic train/test split, saved once and reused by every stage of a run."""

import hashlib
import json
import os

from ppgan_tf import layout



def _rank(seed, key):
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def split_records(records, test_fraction=0.1, unit="identity", stratify_by="", seed=0):
    """Splits records into (train, test), the same way on every machine.

    Units (whole identities by default, so test people are unseen) are
    ranked by a hash of (seed, unit); within each group of `stratify_by` the
    first `test_fraction` of the units, at least one, go to the test split.

    Args:
        records: list of `FaceRecord`.
        test_fraction: share of each group's units held out.
        unit: "identity" or "image".
        stratify_by: attribute whose groups are split separately; "" for one group.
        seed: int, changes which units are held out.
    """
    if unit == "identity":
        missing = [r.key for r in records if not r.identity]
        if missing:
            raise ValueError(
                f"split_unit='identity' needs an identity for every image; "
                f"{len(missing)} have none (first: {missing[0]})"
            )
        unit_of = lambda r: r.identity  # noqa: E731
    elif unit == "image":
        unit_of = lambda r: r.key  # noqa: E731
    else:
        raise ValueError(f"unit must be 'identity' or 'image', got {unit!r}")

    group_of_unit = {}
    for record in records:
        group_of_unit.setdefault(unit_of(record), record.attribute(stratify_by) if stratify_by else "")
    groups = {}
    for unit_key, group in group_of_unit.items():
        groups.setdefault(group, []).append(unit_key)

    test_units = set()
    for units in groups.values():
        if len(units) < 2:
            continue  # A lone unit stays in training: it cannot be split.
        ranked = sorted(units, key=lambda u: _rank(seed, u))
        count = min(len(units) - 1, max(1, round(test_fraction * len(units))))
        test_units.update(ranked[:count])
    train = [r for r in records if unit_of(r) not in test_units]
    test = [r for r in records if unit_of(r) in test_units]
    return train, test


def split_for_run(records, config, workdir, save=True):
    """The run's split: loaded from WORKDIR/split.json, or made and (if `save`) saved there.

    Reusing the saved file guarantees the verificator, the GAN and the
    evaluation all hold out the same faces. Only one process of a
    multi-worker run saves; the split is the same in all of them.
    """
    path = os.path.join(workdir, layout.SPLIT)
    params = {
        "data": config.data,
        "test_fraction": config.test_fraction,
        "unit": config.split_unit,
        "stratify_by": config.stratify_by,
        "seed": config.seed,
    }
    by_key = {r.key: r for r in records}
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        if saved["params"] != params:
            raise ValueError(
                f"{path} was made with {saved['params']}, this run asks for {params}; "
                "use a new work directory or the same data and split settings"
            )
        missing = [k for k in saved["train"] + saved["test"] if k not in by_key]
        if missing:
            raise ValueError(f"{path} names {len(missing)} images the data no longer has (first: {missing[0]})")
        return [by_key[k] for k in saved["train"]], [by_key[k] for k in saved["test"]]
    train, test = split_records(
        records, config.test_fraction, config.split_unit, config.stratify_by, config.seed
    )
    if not save:
        return train, test
    os.makedirs(workdir, exist_ok=True)
    with open(path, "w") as f:
        json.dump(
            {"params": params, "train": [r.key for r in train], "test": [r.key for r in test]},
            f,
            indent=1,
        )
    return train, test
