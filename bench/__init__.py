"""`make bench`: clusterflow beside Spark MLlib and scikit-learn on the same data and machine (issue 6)."""
