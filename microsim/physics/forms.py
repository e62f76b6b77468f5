"""Helpers on UFL forms shared by the solvers' derived operators."""

from __future__ import annotations

import ufl


def nonempty(form: ufl.Form) -> ufl.Form | None:
    """``form`` itself, or None when it vanishes identically once its derivatives are expanded.

    A derivative block that does not depend on its unknown (the salt block with respect to θ, say) expands to an
    empty form, which DOLFINx cannot compile; None marks such a block as absent.
    """
    f = ufl.algorithms.expand_derivatives(form)
    return None if f.empty() else form
