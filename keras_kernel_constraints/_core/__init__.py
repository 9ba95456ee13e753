"""The package's floor: dtypes, argument checks, layouts, reductions and
value-object plumbing. Imports nothing else from the package."""
