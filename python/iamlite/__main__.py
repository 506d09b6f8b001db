"""`python -m iamlite ...`: the binary itself, with the same arguments."""

import os
import sys

from . import ServerError, find_binary


def main() -> None:
    try:
        binary = find_binary()
    except ServerError as e:
        sys.exit(f"iamlite: {e}")
    os.execv(binary, [binary, *sys.argv[1:]])


if __name__ == "__main__":
    main()
