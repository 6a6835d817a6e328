"""Analysis for the dashboard: per-video timelines (more to come: t-SNE, attention, imbalance)."""
