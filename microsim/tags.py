"""The only place where mesh tag numbers live (Gmsh physical groups = DOLFINx meshtags values)."""

from __future__ import annotations

# Cells (dim = tdim)
PARTICLE = 1
ELECTROLYTE_PORE = 2  # electrolyte inside the cathode layer (0 < z < L_c)
ELECTROLYTE_MEMBRANE = 3  # electrolyte membrane (L_c < z < L_c + L_m)
CBD = 4  # carbon-binder domain in the cathode layer (geometry.cbd_fraction > 0 only)

ELECTROLYTE_CELLS = (ELECTROLYTE_PORE, ELECTROLYTE_MEMBRANE)

# Facets (dim = tdim - 1)
INTERFACE = 10  # particle | electrolyte (Gamma), interior facets
COLLECTOR = 11  # particle | aluminium current collector at z = 0, exterior facets
ANODE = 12  # electrolyte | Li metal at the top, exterior facets
# carbon-binder facets (geometry.cbd_fraction > 0 only): electronic contact or insulation, never a reaction
PARTICLE_CBD = 13  # particle | carbon-binder, interior facets (electronic contact)
CBD_ELECTROLYTE = 14  # carbon-binder | pore electrolyte, interior facets (no faradaic reaction)
CBD_COLLECTOR = 15  # carbon-binder | current collector at z = 0, exterior facets

#: The cells that carry the solid potential: particles and carbon-binder.
SOLID_CELLS = (PARTICLE, CBD)

CELL_NAMES = {
    PARTICLE: "particle",
    ELECTROLYTE_PORE: "electrolyte_pore",
    ELECTROLYTE_MEMBRANE: "electrolyte_membrane",
    CBD: "cbd",
}
FACET_NAMES = {
    INTERFACE: "interface",
    COLLECTOR: "collector",
    ANODE: "anode",
    PARTICLE_CBD: "particle_cbd",
    CBD_ELECTROLYTE: "cbd_electrolyte",
    CBD_COLLECTOR: "cbd_collector",
}
