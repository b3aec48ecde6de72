"""The generic training loop, checkpoints, distributed helpers and schedules."""
