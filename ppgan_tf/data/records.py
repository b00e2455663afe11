"""One face record: the unit every data source yields (manifests, folders, TFRecords)."""

import dataclasses

UNKNOWN_LABELS = ("", "ambiguous", "unknown")


@dataclasses.dataclass(frozen=True)
class FaceRecord:
    """One face image: where it is, whose it is, and its other labels.

    `key` is the path relative to the dataset root: it names the record in
    splits and reports whatever folder the dataset is mounted in. Records
    read from TFRecords carry their encoded image in `data` instead of a path.
    """

    key: str
    path: str
    identity: str = ""
    attributes: tuple = ()
    data: bytes = dataclasses.field(default=b"", repr=False)

    def attribute(self, name):
        return dict(self.attributes).get(name, "")


def labelled(labels):
    """Indices of faces whose label is known."""
    return [i for i, label in enumerate(labels) if label.strip().lower() not in UNKNOWN_LABELS]
