"""Conveyor's shared Lambda layer: domain logic, event models and AWS adapters.

Handlers in ``functions/`` stay thin and call into this package. Modules never import a handler.
"""

import warnings

__version__ = "0.1.0"

# Every handler imports this package, so this is where its Powertools metrics behaviour is set.
# Some paths legitimately publish no metric (a gate that only compares, a run with nothing to
# roll back), and Powertools' ``log_metrics`` then warns "No application metrics to publish" into
# the function's log on every such invocation. Powertools documents this filter as the way to say
# "empty is expected"; any other warning still shows.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)
