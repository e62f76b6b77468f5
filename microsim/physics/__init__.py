"""Physics: kinetics (pure functions) and the residual blocks of docs/model.md §2."""
