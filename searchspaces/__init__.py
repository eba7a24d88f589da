"""The block families: one module per family, each defining ``FAMILY``.

Imported lazily through :func:`scalesearch.registry.get_family`.
"""

FAMILY_MODULES: tuple[str, ...] = ("resnet", "wrn", "densenet", "mbconv", "efficientnet")
