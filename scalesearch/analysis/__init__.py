"""Reading runs: results tables, Pareto fronts, canonical references, plots and the HTML report."""
