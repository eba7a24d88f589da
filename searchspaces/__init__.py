"""The block families: one module per family, each defining a module-level ``FAMILY``.

:mod:`scalesearch.registry` finds them here by themselves (a new family is one new module;
modules without ``FAMILY``, such as :mod:`searchspaces.blocks`, are helpers), imported lazily on
the first lookup. Families from other packages come in through the ``scalesearch.families``
entry-point group.
"""
