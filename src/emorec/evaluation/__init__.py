"""Metrics, reports and comparison tables shared by the face and voice pipelines."""
