"""Conveyor's shared Lambda layer: domain logic, event models and AWS adapters.

Handlers in ``functions/`` stay thin and call into this package. Modules never import a handler.
"""

__version__ = "0.1.0"
