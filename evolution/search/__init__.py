"""Search strategies: pure functions and small ask/tell optimizers, no I/O.

Inputs are candidates (`evolution.runs.candidate.Candidate`) or genome vectors plus a numpy
`Generator`; outputs are choices. The session (agents/) drives them and does all I/O.

- `selection`: weighted (ShinkaEvolve) and power-law parent sampling.
- `islands`: island assignment and ring migration.
- `cmaes`: `TunableOptimizer`, CMA-ES over a recipe's tunables, JSON-checkpointable.
- `ps_genome`: a fixed per-layer DARE-TIES genome (Sakana PS / mergekit-evolve) → MergePlan.
- `random_search`: uniform sampling of that genome.
- `m2n2`: split-point crossover, resource-competition fitness sharing, attraction mating.
"""
