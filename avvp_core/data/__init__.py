"""Data: the LLP folder reader, its feature cache and the SynthLLP generator."""

from .annotations import AnnotationReport, dense_truth, read_eval_csv, read_weak_csv
from .dataset import LLPDataset, Split

__all__ = ["AnnotationReport", "LLPDataset", "Split", "dense_truth", "read_eval_csv", "read_weak_csv"]
