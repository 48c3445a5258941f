"""A visyn-era TDP server plugin (tdp_core 15-17 API) as datavisyn's template laid it out."""

from setuptools import find_packages
from setuptools import setup

setup(
    name="tdp_visyn_demo",
    version="17.2.0",
    description="visyn-era fixture plugin: settings, init_app, a SQL connector, a user store",
    packages=find_packages(),
    entry_points={"visyn.plugin": ["tdp_visyn_demo = tdp_visyn_demo:VisynPlugin"]},
)
