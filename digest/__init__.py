"""digest: a self-hosted daily research-papers newsletter.

The pipeline reads top to bottom in :mod:`digest.pipeline`:
fetch → parse → merge → rank → render → send, with :mod:`digest.store` keeping
subscribers, editions, deliveries and run reports.
"""

__version__ = "0.1.0"
USER_AGENT = f"papers-digest/{__version__} (+https://github.com/papers-digest/digest)"
