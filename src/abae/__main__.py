import sys

from abae.cli import main

sys.exit(main())
