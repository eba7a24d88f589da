"""The command line: ``main`` (in :mod:`scalesearch.cli.main`) reads one explicit table of commands.

Command modules (costs, run, plots, cluster) import only :mod:`scalesearch.cli.common`, never ``main``.
"""
