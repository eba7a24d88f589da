"""scalesearch: search and scale CNN families under exact cost budgets.

Heavy modules (torch, fvcore, optuna, ray) are imported lazily by the functions that need them.
"""

from scalesearch.errors import BudgetError, ExperimentError, PointError, ScalesearchError

__version__ = "0.1.0"
__all__ = ["BudgetError", "ExperimentError", "PointError", "ScalesearchError", "__version__"]
