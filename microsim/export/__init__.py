"""Exports for the tools battery modellers already use: :mod:`microsim.export.bpx` (BPX parameter sets).

Pure Python on run folders (no DOLFINx), like :mod:`microsim.post`.
"""
