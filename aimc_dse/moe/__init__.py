"""MoE algorithms, not costs: expert routing (gate traces, synthetic token/expert choice,
selection probabilities) and group-wise scheduling of experts under peripheral sharing
(Gao & Yang 2026). The cost model (``aimc_dse.cost``) turns their results into factors."""
