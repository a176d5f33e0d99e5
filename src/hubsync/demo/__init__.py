"""``hubsync demo``: the whole product on embedded defaults, with a narrated, self-checking tour."""

from pathlib import Path

#: where the demo's embedded broker and PostgreSQL keep their state (``hubsync demo --dir``)
DEMO_DIR = Path("~/.hubsync/demo")
