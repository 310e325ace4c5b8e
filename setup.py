"""Package list for the split layout (see DESIGN.md): ``raylake`` lives in platform/raylake, while
``raylake.serving`` and ``raylake.features`` live in serving/ and features/. pyproject's
``packages.find`` can search only one tree for one prefix, so the three lists are joined here."""

from setuptools import find_packages, setup


def _tree(folder: str, name: str) -> list[str]:
    return [name, *(f"{name}.{sub}" for sub in find_packages(folder))]


setup(
    packages=_tree("platform/raylake", "raylake")
    + _tree("serving", "raylake.serving")
    + _tree("features", "raylake.features")
)
