"""Labelled clips (issue #12): whole-clip classifiers trained and evaluated on labelled clip
sets (results/clips/{dataset}/), independent of the session sheet."""
