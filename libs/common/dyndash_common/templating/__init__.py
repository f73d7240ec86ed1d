"""Sandboxed Jinja2: the environment, write-time validation and budgeted rendering."""

from __future__ import annotations

from dyndash_common.templating.meter import metered
from dyndash_common.templating.pool import RenderBudget, RenderJob, RenderPool, source_key
from dyndash_common.templating.sandbox import DashboardSandbox
from dyndash_common.templating.validation import LocalCompiler, TemplateCompiler, check_references

__all__ = [
    "DashboardSandbox",
    "LocalCompiler",
    "RenderBudget",
    "RenderJob",
    "RenderPool",
    "TemplateCompiler",
    "check_references",
    "metered",
    "source_key",
]
