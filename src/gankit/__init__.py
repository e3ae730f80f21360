"""gankit: train GANs and Wasserstein GANs, watch them learn, measure them, diagnose them.

The Python API (see :mod:`gankit.api`)::

    run = gankit.train(data="ring", objective="wgan-gp", steps=2000)
    run.sample(1000); run.metrics; run.plot()
    gankit.load(path); gankit.resume(run, steps=4000); gankit.doctor(run); gankit.figure(name)
"""

__version__ = "0.1.0"

from gankit.api import Diagnosis, FigureResult, Run, doctor, figure, load, resume, train
from gankit.errors import GankitError

__all__ = ["Diagnosis", "FigureResult", "GankitError", "Run", "doctor", "figure", "load", "resume", "train"]
