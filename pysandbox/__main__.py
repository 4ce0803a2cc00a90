import sys

from pysandbox.cli import main

sys.exit(main())
