"""The Python package's own suite uses pytester to run pytest sessions the way a user would."""

pytest_plugins = ["pytester"]
