"""Packaging: ships the repository's protocol_specs/ inside the wheel as kafkapy/protocol_specs/.

protocol_specs/ stays at the repository root, the one source; setuptools maps it to the package data
directory ``kafkapy.protocol_specs`` when it builds a wheel (and copies it into the sdist), where
``kafkapy.protocol.specs`` finds it with importlib.resources. pyproject.toml holds everything else;
this file exists because pyproject.toml's ``packages.find`` cannot add a package from another folder.
"""

from setuptools import find_packages, setup

SPEC_PACKAGES = {
    "kafkapy.protocol_specs": "protocol_specs",
    "kafkapy.protocol_specs.internal": "protocol_specs/internal",
}

setup(
    packages=[*find_packages(include=["kafkapy", "kafkapy.*"]), *SPEC_PACKAGES],
    package_dir=SPEC_PACKAGES,
    package_data={name: ["*.kspec", "*.md"] for name in SPEC_PACKAGES},
)
