"""Expert-level analysis from real weights (Chowdhury et al., arXiv 2603.02633; docs/cost-model.md §8).

* :mod:`.weights` — read routed-expert matrices from safetensors / npz checkpoints and compute
  each expert's MaxNNScore;
* :mod:`.noise` — a noise-sensitivity proxy (relative FFN output error under weight-programming
  noise), clearly a proxy and not an accuracy model;
* :mod:`.score` — both, per expert, streaming one matrix at a time;
* :mod:`.selection` — the selection JSON that ``aimc-dse experts score`` writes and
  ``workload.digital.selection_file`` points to.
"""
