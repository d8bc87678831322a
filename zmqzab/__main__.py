"""``python -m zmqzab``: the same as the ``zmqzab`` console script."""

from zmqzab.cli import main

if __name__ == "__main__":
    main()
