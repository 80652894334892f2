import sys

from lmlab.commands import main

sys.exit(main())
