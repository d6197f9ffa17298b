"""The package version, in a module of its own so that submodules can import it without a cycle.

pyproject.toml reads it too (`[tool.setuptools.dynamic]`), so this is the only place to bump it.
"""

__version__ = "0.1.0"
