"""clusterflow.local"""
