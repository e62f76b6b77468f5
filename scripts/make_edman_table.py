"""Write microsim/parameters/edman2000_peo_litfsi_85C.csv from the dualfoil 5.2 (nprop = 12) polynomials.

Edman et al., J. Phys. Chem. B 104 (2000) 3476, PEO-LiTFSI at 85 °C, as fitted in dualfoil 5.2; c in mol/m³.
The conductivity polynomial is labelled S/m in dualfoil but its magnitude is S/cm (7.35e-4 at 1000 mol/m³, Edman's
measured value in S/cm), so it is multiplied by 100 here. Run: python scripts/make_edman_table.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

HEADER = """\
# PEO-LiTFSI at 85 °C: Edman, Doeff, Ferry, Kerr, De Jonghe, J. Phys. Chem. B 104 (2000) 3476 [S],
# as the polynomials of dualfoil 5.2 (nprop = 12), c in mol/m³, valid 742-2982 mol/m³:
#   kappa = 6.53e-14 c^3 - 5.73e-10 c^2 + 1.2e-6 c + 4.25e-5   (labelled S/m in dualfoil; the magnitude is S/cm,
#           7.35e-4 at 1000 mol/m³ as Edman's measurement, so x100 here: S/m)
#   D     = -6.73e-19 c^2 + 4.92e-16 c + 5.5e-12  m²/s
#   t+    = -5.05e-8 c^2 + 3.77e-4 c - 0.0834     (0.24 at 1000; measured 0.17 +- 0.17 -> 0.60 +- 0.03)
#   TDF   = 1 (ideal, as dualfoil)
# microsim uses only the shapes kappa(c)/kappa(c0) and D(c)/D(c0) (on top of the named set's kappa(T), D(T));
# t+ and TDF as they are. Not defined below 742 mol/m³: a depleting cell leaves the table (docs/parameters.md §2.4b).
# Written by scripts/make_edman_table.py.
"""


def main() -> None:
    c = np.linspace(742.0, 2982.0, 20)
    kappa = 100.0 * (6.53e-14 * c**3 - 5.73e-10 * c**2 + 1.2e-6 * c + 4.25e-5)
    diff = -6.73e-19 * c**2 + 4.92e-16 * c + 5.5e-12
    t_plus = -5.05e-8 * c**2 + 3.77e-4 * c - 0.0834
    rows = [f"{ci:.6g},{k:.6g},{d:.6g},{t:.6g},1" for ci, k, d, t in zip(c, kappa, diff, t_plus, strict=True)]
    text = HEADER + "c_mol_m3,conductivity_S_m,diffusivity_m2_s,transference_number,thermodynamic_factor\n"
    out = Path(__file__).resolve().parents[1] / "microsim" / "parameters" / "edman2000_peo_litfsi_85C.csv"
    out.write_text(text + "\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
