"""Exploration of the operator's state space (see docs/testing.md, "Exploration").

``specs`` draws valid and invalid CR changes, ``world`` executes steps and faults against
the real parts, ``oracle`` judges a quiescent cluster against the pure renderers, and
``steps`` reads and writes step sequences as YAML so a failure found once is replayed
as a regression test forever.
"""
