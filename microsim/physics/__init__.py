"""Physics: kinetics (pure functions) and the residual blocks of MODEL.md §2."""
