import sys

from lotteryfast.fairseq_plugin.tool import main

sys.exit(main())
