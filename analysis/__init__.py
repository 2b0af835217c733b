"""Post-processing of kmc run folders: loading outputs (load.py) and plotting (plot_run.py)."""
