"""Verdicts before training: budgets (parse, check), screening many points, solving for one value."""
