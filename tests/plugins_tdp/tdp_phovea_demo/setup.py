"""A Phovea-era TDP server plugin as the phovea generator laid it out (test fixture)."""

from setuptools import setup

setup(
    name="tdp_phovea_demo",
    version="3.1.0",
    description="phovea-era fixture plugin: a SQL connector, a user store, unserved types",
    packages=["tdp_phovea_demo"],
    package_data={"tdp_phovea_demo": ["config.json"]},
    entry_points={
        "phovea.registry": ["tdp_phovea_demo = tdp_phovea_demo:phovea"],
        "phovea.config": ["tdp_phovea_demo = tdp_phovea_demo:phovea_config"],
    },
)
