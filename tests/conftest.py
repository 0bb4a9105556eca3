"""Suite-wide settings: one intra-op thread per test process.

Tests run tiny models, where threading gains nothing, and several test processes (Ray workers,
DataLoader workers) share two cores: oversubscribed OpenMP threads spin and slow everything.
"""

import os

import torch

os.environ.setdefault("OMP_NUM_THREADS", "1")  # also read by the trainer and by subprocesses
torch.set_num_threads(1)
