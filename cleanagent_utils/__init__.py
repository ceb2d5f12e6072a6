"""What the training scripts share for hardware, scale and I/O (as CleanRL's `cleanrl_utils`): model
loading and precision, the chat template's token deltas, samplers, log-prob batching, distributed
helpers, checkpoints and run folders, held-out evaluation. The methods themselves (the rollout,
advantages, losses and the update) are written out in each script."""
