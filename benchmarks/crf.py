"""Runs lossk._bench.crf (crf_nll_loss with its gradients and crf_decode against
pytorch-crf, in one run) with this script's arguments:

    python benchmarks/crf.py [--threads 2] [--sizes 64x128x32,256x64x9]
"""
import sys

from bench import run   # benchmarks/bench.py, beside this script

if __name__ == "__main__":
    sys.exit(run("crf"))
