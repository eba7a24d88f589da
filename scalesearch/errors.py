"""Errors raised for bad input: the CLI prints their message on one line and exits 2."""

from __future__ import annotations


class ScalesearchError(Exception):
    """Base class for user-facing errors (bad point, bad budget, bad experiment...)."""


class PointError(ScalesearchError, ValueError):
    """A point violates its space: unknown key, value out of domain, broken constraint."""


class BudgetError(ScalesearchError, ValueError):
    """A budget expression is malformed, or no point of a space can satisfy it."""


class ExperimentError(ScalesearchError):
    """An experiment file or its overrides are invalid."""


class UsageError(ScalesearchError):
    """A command was called with invalid arguments."""


class ResourceError(ScalesearchError):
    """A request this machine cannot serve (e.g. a network too large to build in the memory available)."""
