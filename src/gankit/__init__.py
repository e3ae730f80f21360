"""gankit: train GANs and Wasserstein GANs, watch them learn, measure them, diagnose them."""

__version__ = "0.1.0"
