"""Studies on Optuna: specs, storage, queued trials, workers, status, dashboard (the only Optuna user).

Modules are imported lazily by the CLI; importing this package imports nothing heavy.
"""
