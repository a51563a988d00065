"""Reconcilers: read, plan, apply and report — no kopf imports."""
