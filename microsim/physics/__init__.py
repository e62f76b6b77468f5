"""Physics: kinetics, the residual blocks of docs/model.md §2, their functionals and small-signal forms."""
