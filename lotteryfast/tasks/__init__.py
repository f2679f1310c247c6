"""Tasks: what the lottery engine trains (RL and NLP). Each implements :class:`lotteryfast.tasks.base.Task`."""
