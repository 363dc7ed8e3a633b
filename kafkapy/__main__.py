import sys

from kafkapy.cli import main

sys.exit(main())
