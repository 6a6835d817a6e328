"""Training: loss terms, the batch feeder, the one training loop, and the recipes built on it."""
