"""The admin console: server-rendered pages over the same functions as the CLI (docs/console.md).

Layers inside: :mod:`config` (typed settings), :mod:`users` and :mod:`sessions` (who may sign in and
how a browser proves it), :mod:`queries` and :mod:`actions` (what the pages read and change, on a
PostgreSQL connection), :mod:`overview` (component health and charts), :mod:`charts` (SVG), then
:mod:`web` and :mod:`pages` (the aiohttp application). Nothing here imports the sandbox.
"""
