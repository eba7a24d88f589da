"""Pre-activation vs post-activation residual blocks at equal depth and width, with and without
stochastic depth (He et al. 2016, "Identity Mappings", Table 3; Huang et al. 2016).

Both networks are the same bottleneck ResNet (stem 64, stage outputs 256..2048, inner width a
quarter, ``layers`` blocks per stage): ``resnet`` is torchvision's post-activation block
(conv-BN-ReLU ... add, ReLU), ``resnetv2`` timm's pre-activation block (BN-ReLU-conv ... add, no
ReLU after the add), with BN or BiT's GroupNorm + weight standardisation. Each is trained with
stochastic depth off and at ``drop_path_rate`` (block l of L drops with p * l / L).

Default: one block per stage on digits at 32 px, a few short epochs. The paper's study:
--set layers=3,4,6,3 --set dataset=cifar10 --set epochs=160 --set max_batches_per_epoch=None
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scalesearch.experiment import Evaluation, Experiment, SearchSpace, Stage
from scalesearch.space import Choice

if TYPE_CHECKING:
    import pandas as pd

DROP = Choice((0.0, 0.2))


def stages(layers: list[int]) -> list[Stage]:
    """One grid stage per block form, both with ``layers`` blocks per stage."""
    post = SearchSpace("resnet", {"drop_path_rate": DROP}, fixed={"layers": layers, "block": "bottleneck"})
    norms = Choice(("batchnorm", "groupnorm_ws"))
    pre = SearchSpace("resnetv2", {"norm": norms, "drop_path_rate": DROP}, fixed={"layers": layers})
    return [Stage("post_activation", post, "grid"), Stage("pre_activation", pre, "grid")]


class PreActStudy(Experiment):
    def all_stages(self) -> list[Stage]:
        return stages([int(x) for x in str(self.options["layers"]).split(",")])


def summarize(results: pd.DataFrame, exp: Experiment) -> str:
    """Each trial's block form, norm, drop rate, params and accuracy."""
    import pandas as pd

    from scalesearch.formatting import table

    rows = []
    for _, r in results.sort_values(["stage", "number"]).iterrows():
        p = r["point"] or {}
        if not p:
            continue
        rows.append(
            {
                "block": r["stage"],
                "norm": p.get("norm", "batchnorm"),
                "drop_path_rate": p["drop_path_rate"],
                "params": r["params"],
                "accuracy": None if pd.isna(r.get("accuracy")) else round(r["accuracy"], 4),
                "state": r["state"],
            }
        )
    return table(rows)


experiment = PreActStudy(
    name="resnetv2_preact",
    description="Pre- vs post-activation bottleneck ResNet at equal depth and width, +/- stochastic depth",
    stages=stages([1, 1, 1, 1]),
    pruner="none",
    objectives={"accuracy": "maximize"},
    evaluation=Evaluation(
        dataset="digits", resolution=32, epochs=3, batch_size=64, lr=0.05, max_batches_per_epoch=12
    ),
    options={"layers": "1,1,1,1"},
    references=["resnet50", "resnetv2_50", "resnetv2_50x1_bit"],
    summarize=summarize,
)
