"""Jupyter tests run with tzmq.compat installed before any Jupyter module is imported."""

from tzmq import compat

compat.install()
