"""clusterflow.app"""
