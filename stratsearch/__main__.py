import sys

from stratsearch.cli import main

sys.exit(main())
