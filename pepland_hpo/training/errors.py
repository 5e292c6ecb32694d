"""Errors raised by training runs (supervised or contrastive)."""


class NonFiniteLoss(RuntimeError):
    """Too many steps had a non-finite loss or gradient; the run stopped.

    The message says how many steps were skipped and the threshold, so a study
    can record it as the trial's failure reason and prune the trial.
    """
