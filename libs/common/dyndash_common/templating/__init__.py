"""Sandboxed Jinja2: the environment, write-time validation and budgeted rendering."""
