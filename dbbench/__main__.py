import sys

from dbbench.cli import main

sys.exit(main())
