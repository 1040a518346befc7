"""Task-vector methods: task arithmetic, TIES, DARE, Model Breadcrumbs, DELLA.

All share `_gta`'s core and mergekit 0.1.5's parameter names and defaults, so a mergekit
YAML means the same weights here. DARE's `rescale` restores the L1 norm of the kept values
(mergekit's choice) rather than dividing by the density as in the paper; in expectation the
two agree.
"""

from __future__ import annotations

from evolution.merge.methods._gta import (
    EPSILON,
    GAMMA,
    LAMBDA,
    density_param,
    gta_method,
    normalize_param,
    rescale_param,
    weight_param,
)
from evolution.merge.registry import MethodSpec, register

register(
    MethodSpec(
        name="task_arithmetic",
        brief="base + lambda * sum of weight * (source - base)",
        fn=gta_method(None, election=False),
        family="task_vector",
        summary="base + lambda * sum of weight * (source - base); normalize divides by the sum of weights",
        paper="Ilharco et al. 2023, Editing Models with Task Arithmetic, arXiv:2212.04089",
        params=(weight_param(), normalize_param(False), LAMBDA),
        needs_base=True,
        mergekit="task_arithmetic",
    )
)

register(
    MethodSpec(
        name="ties",
        brief="TIES: trim to top density, elect signs, average agreeing values",
        fn=gta_method("magnitude", election=True),
        family="task_vector",
        summary=(
            "trim each task vector to its top-density magnitudes, elect the sign of the weighted sum, "
            "average the agreeing values (normalize), add lambda times that to the base"
        ),
        paper="Yadav et al. 2023, TIES-Merging, arXiv:2306.01708",
        params=(weight_param(), density_param(), normalize_param(True), rescale_param(False), LAMBDA),
        needs_base=True,
        mergekit="ties",
    )
)

register(
    MethodSpec(
        name="dare_linear",
        brief="DARE random drop, rescaled, then task arithmetic",
        fn=gta_method("random", election=False),
        family="task_vector",
        summary=(
            "drop each task-vector value with probability 1 - density (seeded); rescale restores the L1 norm "
            "(as mergekit, not 1/density); then task arithmetic"
        ),
        paper="Yu et al. 2024, Language Models are Super Mario (DARE), arXiv:2311.03099",
        params=(weight_param(), density_param(), normalize_param(False), rescale_param(True), LAMBDA),
        needs_base=True,
        randomized=True,
        mergekit="dare_linear",
    )
)

register(
    MethodSpec(
        name="dare_ties",
        brief="DARE random drop, then TIES",
        fn=gta_method("random", election=True),
        family="task_vector",
        summary="DARE random drop (seeded) and L1-norm rescale, then TIES sign election and sum",
        paper="Yu et al. 2024, Language Models are Super Mario (DARE), arXiv:2311.03099",
        params=(weight_param(), density_param(), normalize_param(False), rescale_param(True), LAMBDA),
        needs_base=True,
        randomized=True,
        mergekit="dare_ties",
    )
)

register(
    MethodSpec(
        name="breadcrumbs",
        brief="drop the gamma largest and smallest values, then task arithmetic",
        fn=gta_method("magnitude_outliers", election=False),
        family="task_vector",
        summary="drop the largest gamma and the smallest magnitudes (keeping density), then task arithmetic",
        paper="Davari & Belilovsky 2024, Model Breadcrumbs, arXiv:2312.06795",
        params=(weight_param(), density_param(), GAMMA, normalize_param(False), rescale_param(False), LAMBDA),
        needs_base=True,
        mergekit="breadcrumbs",
    )
)

register(
    MethodSpec(
        name="breadcrumbs_ties",
        brief="Breadcrumbs drop, then TIES",
        fn=gta_method("magnitude_outliers", election=True),
        family="task_vector",
        summary="Breadcrumbs outlier and small-value removal, then TIES sign election and sum",
        paper="Davari & Belilovsky 2024, Model Breadcrumbs, arXiv:2312.06795",
        params=(weight_param(), density_param(), GAMMA, normalize_param(False), rescale_param(False), LAMBDA),
        needs_base=True,
        mergekit="breadcrumbs_ties",
    )
)

_DELLA_NOTE = (
    "keep probability rises with magnitude rank in each row (density ± epsilon, seeded), rescale; "
    "epsilon is clipped to keep probabilities in [0, 1] where mergekit would raise"
)

register(
    MethodSpec(
        name="della",
        brief="DELLA magnitude-ranked drop, then TIES",
        fn=gta_method("della_magprune", election=True),
        family="task_vector",
        summary=f"DELLA MagPrune: {_DELLA_NOTE}; then TIES sign election and normalized sum",
        paper="Deep et al. 2024, DELLA-Merging, arXiv:2406.11617",
        params=(weight_param(), density_param(), EPSILON, normalize_param(True), rescale_param(True), LAMBDA),
        needs_base=True,
        randomized=True,
        mergekit="della",
    )
)

register(
    MethodSpec(
        name="della_linear",
        brief="DELLA magnitude-ranked drop, then task arithmetic",
        fn=gta_method("della_magprune", election=False),
        family="task_vector",
        summary=f"DELLA MagPrune without sign election: {_DELLA_NOTE}; then task arithmetic",
        paper="Deep et al. 2024, DELLA-Merging, arXiv:2406.11617",
        params=(
            weight_param(),
            density_param(),
            EPSILON,
            normalize_param(False),
            rescale_param(True),
            LAMBDA,
        ),
        needs_base=True,
        randomized=True,
        mergekit="della_linear",
    )
)
