"""Buy-till-you-die models of customer lifetime value: BG/NBD, Pareto/NBD and Gamma-Gamma."""
