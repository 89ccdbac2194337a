"""``python -m fastmlp.cli``: the same as the ``fastmlp`` command."""
import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
