"""``python -m custody.cli``: the same as the ``custody`` command."""

from custody.cli import main

if __name__ == "__main__":
    main()
