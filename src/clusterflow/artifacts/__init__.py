"""clusterflow.artifacts"""
