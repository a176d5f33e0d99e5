"""``python -m hubsync``: the same command line as the ``hubsync`` console script."""

from hubsync.cli import main

if __name__ == "__main__":
    main()
