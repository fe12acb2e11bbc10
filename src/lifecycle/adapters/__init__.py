"""The adapters: everything that touches the outside world, behind small interfaces.

- :mod:`~lifecycle.adapters.store` — ``--db`` to a store target, and ``connect()``, the
  one way to open a plain connection to the store's database.
- :mod:`~lifecycle.adapters.persistence` — events to stored bytes and back (upcasting).
- :mod:`~lifecycle.adapters.recorders` — the application recorders, one module per
  backend behind one interface, writing the audit chain.
- :mod:`~lifecycle.adapters.chain` / :mod:`~lifecycle.adapters.audit` — the hash chain
  and its verification.
- :mod:`~lifecycle.adapters.interpreters` — worker interpreters for jobs split across CPUs.
- :mod:`~lifecycle.adapters.logconfig` — structlog set-up.
- :mod:`~lifecycle.adapters.tokens` — the HTTP service's bearer tokens, kept hashed in
  the store's own database.

They import only the domain (and the standard library and third-party packages). This
package imports nothing itself: a worker interpreter loads only the module it runs.
"""
