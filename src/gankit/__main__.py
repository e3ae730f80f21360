import os
import sys

from gankit.cli import main
from gankit.engine import distributed

code = main()
# maybe one process of a torchrun job (`gankit train --nproc N`)
if "RANK" in os.environ and distributed.launched_by_torchrun():
    distributed.exit_rank(code)
sys.exit(code)
