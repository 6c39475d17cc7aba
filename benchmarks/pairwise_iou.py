"""Runs lossk._bench.pairwise_iou (pairwise box_iou / generalized_box_iou against
torch) with this script's arguments:

    python benchmarks/pairwise_iou.py [--n 4096] [--m 4096]
"""
import sys

from bench import run   # benchmarks/bench.py, beside this script

if __name__ == "__main__":
    sys.exit(run("pairwise_iou"))
