"""The pure domain: aggregates, their immutable events and the duo's state table.

Nothing here imports persistence, logging, the CLI or the projections.
"""
