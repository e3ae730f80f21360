import os
import sys

from gankit.cli import main

code = main()
if "RANK" in os.environ:  # maybe one process of a torchrun job (`gankit train --nproc N`)
    from gankit.engine import distributed

    if distributed.launched_by_torchrun():
        distributed.exit_rank(code)
sys.exit(code)
