"""``python -m zmqzab``: the same as the ``zmqzab`` console script."""

from zmqzab.entry import main

if __name__ == "__main__":
    main()
