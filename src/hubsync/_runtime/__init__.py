"""Machinery shared by the dev stack (:mod:`hubsync.devstack`) and the test servers (:mod:`hubsync.testing`).

- :mod:`~hubsync._runtime.errors`: :class:`ServiceError`, the base of both layers' errors, and log tails.
- :mod:`~hubsync._runtime.processes`: spawning daemons, pid liveness with pid-reuse protection,
  SIGTERM-then-SIGKILL, ports, polling.
- :mod:`~hubsync._runtime.runas`: the unprivileged OS account PostgreSQL runs as when we are root.
- :mod:`~hubsync._runtime.postgres_cluster`: one PostgreSQL data directory driven with
  ``initdb``/``pg_ctl``, and where to find those binaries.

The layers keep their own policies (where data lives, which binaries, ports, settings, role names).
Private: nothing outside ``hubsync`` should import it.
"""
