"""The only place where mesh tag numbers live (Gmsh physical groups = DOLFINx meshtags values)."""

from __future__ import annotations

# Cells (dim = tdim)
PARTICLE = 1
ELECTROLYTE_PORE = 2  # electrolyte inside the cathode layer (0 < z < L_c)
ELECTROLYTE_MEMBRANE = 3  # electrolyte membrane (L_c < z < L_c + L_m)

ELECTROLYTE_CELLS = (ELECTROLYTE_PORE, ELECTROLYTE_MEMBRANE)

# Facets (dim = tdim - 1)
INTERFACE = 10  # particle | electrolyte (Gamma), interior facets
COLLECTOR = 11  # particle | aluminium current collector at z = 0, exterior facets
ANODE = 12  # electrolyte | Li metal at the top, exterior facets

CELL_NAMES = {
    PARTICLE: "particle",
    ELECTROLYTE_PORE: "electrolyte_pore",
    ELECTROLYTE_MEMBRANE: "electrolyte_membrane",
}
FACET_NAMES = {INTERFACE: "interface", COLLECTOR: "collector", ANODE: "anode"}
