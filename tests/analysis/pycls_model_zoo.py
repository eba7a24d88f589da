"""Fixture: RegNetX rows of pycls's public model zoo (ImageNet-1k, 100 epochs, top-1 error averaged
over 5 reruns, FLOPs in billions as printed).

Source: facebookresearch/pycls, MODEL_ZOO.md, section "RegNetX Models" (commit
1caf15bbefeecd6d4df74075f293592b504069d2), the baselines of Radosavovic et al. 2020,
"Designing Network Design Spaces". Copied to the table's printed precision; the 6.4GF model is
listed with 6.5 GFLOPs there.
"""

REGNETX = (
    # (model, GFLOPs, top-1 error %)
    ("RegNetX-200MF", 0.2, 31.1),
    ("RegNetX-400MF", 0.4, 27.3),
    ("RegNetX-600MF", 0.6, 25.9),
    ("RegNetX-800MF", 0.8, 24.8),
    ("RegNetX-1.6GF", 1.6, 23.0),
    ("RegNetX-3.2GF", 3.2, 21.7),
    ("RegNetX-4.0GF", 4.0, 21.4),
    ("RegNetX-6.4GF", 6.5, 20.8),
    ("RegNetX-8.0GF", 8.0, 20.7),
    ("RegNetX-12GF", 12.1, 20.3),
    ("RegNetX-16GF", 15.9, 20.0),
    ("RegNetX-32GF", 31.7, 19.5),
)
