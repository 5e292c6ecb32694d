"""pepland-hpo: ablation studies and hyperparameter search for ImprovedPepLand on Optuna."""

__version__ = "0.1.0"
