"""gankit: train GANs and Wasserstein GANs, watch them learn, measure them, diagnose them.

The Python API (see :mod:`gankit.api`)::

    run = gankit.train(data="ring", objective="wgan-gp", steps=2000)
    run.sample(1000); run.metrics; run.plot()
    gankit.load(path); gankit.resume(run, steps=4000); gankit.doctor(run); gankit.figure(name)
"""

__version__ = "0.1.0"

# ``gankit.train`` is the function below, not the subpackage of the same name. Import the subpackage
# first: Python binds a package's submodules as attributes when they are first imported, so importing
# it after the function would replace the function. Inside gankit, import engine parts with
# ``from gankit.train import run`` or ``from gankit.train.loop import ...`` (never
# ``import gankit.train.run as ...``, which looks the name up on ``gankit``).
from gankit import train as _train_package  # noqa: F401, I001
from gankit.api import Diagnosis, FigureResult, Run, doctor, figure, load, resume, train
from gankit.errors import GankitError

__all__ = ["Diagnosis", "FigureResult", "GankitError", "Run", "doctor", "figure", "load", "resume", "train"]
