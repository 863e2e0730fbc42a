"""clusterflow.engine"""
